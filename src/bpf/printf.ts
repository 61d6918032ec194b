/**
 * The kernel's BPF printf (bpf_trace_printk, bpf_trace_vprintk, bpf_snprintf and the
 * scx_bpf_error/exit/dump formatters): a C-style format whose arguments are 64-bit values, with
 * the conversions the kernel accepts (%d %i %u %x %X %o %c %s %p %%, with l/ll/h/hh length
 * modifiers, width, precision and the - 0 + space # flags). Strings come from the program's
 * memory; a bad one prints as `(efault)`, as the kernel does, rather than failing.
 */
import type { AddressSpace } from './memory.ts';
import { ScxError } from '../util/errors.ts';

export class FormatError extends ScxError {}

/** Read a NUL-terminated string of at most `max` bytes from the address space, or null. */
export function readCString(mem: AddressSpace, addr: number, max = 4096): string | null {
  if (addr < 0) return null;
  let end = addr;
  const bytes = mem.bytes;
  while (end < addr + max) {
    if (mem.regionAt(end, 1) === undefined) return null;
    if (bytes[end] === 0) break;
    end++;
  }
  return new TextDecoder().decode(bytes.subarray(addr, end));
}

/**
 * Format `fmt` with 64-bit `args`. Throws FormatError for conversions the kernel rejects
 * (e.g. %n, %f) or too few arguments.
 */
export function bpfFormat(fmt: string, args: readonly bigint[], mem: AddressSpace): string {
  let out = '';
  let next = 0;
  const re = /%([-+ 0#]*)(\d*)(?:\.(\d+))?(hh|h|ll|l|z)?([a-zA-Z%])/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(fmt))) {
    out += fmt.slice(last, m.index);
    last = re.lastIndex;
    const [, flags, widthText, precText, length, conv] = m;
    if (conv === '%') {
      out += '%';
      continue;
    }
    if (!'diuxXocsp'.includes(conv)) throw new FormatError(`unsupported conversion %${conv} in format '${fmt}'`);
    if (next >= args.length) throw new FormatError(`format '${fmt}' needs more than ${args.length} arguments`);
    const raw = args[next++];
    const bits = length === 'hh' ? 8 : length === 'h' ? 16 : length === 'l' || length === 'll' || length === 'z' ? 64 : 32;
    let body: string;
    let sign = '';
    switch (conv) {
      case 'd':
      case 'i': {
        const v = BigInt.asIntN(bits, raw);
        if (v < 0n) sign = '-';
        else if (flags.includes('+')) sign = '+';
        else if (flags.includes(' ')) sign = ' ';
        body = (v < 0n ? -v : v).toString();
        break;
      }
      case 'u':
        body = BigInt.asUintN(bits, raw).toString();
        break;
      case 'x':
      case 'X':
        body = BigInt.asUintN(bits, raw).toString(16);
        if (conv === 'X') body = body.toUpperCase();
        if (flags.includes('#') && raw !== 0n) sign = conv === 'x' ? '0x' : '0X';
        break;
      case 'o':
        body = BigInt.asUintN(bits, raw).toString(8);
        break;
      case 'c':
        body = String.fromCharCode(Number(raw & 0xffn));
        break;
      case 'p':
        body = BigInt.asUintN(64, raw).toString(16);
        sign = '0x';
        break;
      default: {
        const s = readCString(mem, Number(BigInt.asUintN(64, raw) & 0xffff_ffffn));
        body = raw >> 32n !== 0n || s === null ? '(efault)' : s;
        if (precText !== undefined) body = body.slice(0, Number(precText));
      }
    }
    if (precText !== undefined && 'diuxXo'.includes(conv)) body = body.padStart(Number(precText), '0');
    const width = widthText ? Number(widthText) : 0;
    const text = sign + body;
    if (text.length >= width) out += text;
    else if (flags.includes('-')) out += text.padEnd(width);
    else if (flags.includes('0') && conv !== 's' && conv !== 'c' && precText === undefined) out += sign + body.padStart(width - sign.length, '0');
    else out += text.padStart(width);
  }
  return out + fmt.slice(last);
}
