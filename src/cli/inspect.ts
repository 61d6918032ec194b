import type { CommandModule } from 'yargs';
import { formatInsn, forEachInsn } from '../bpf/asm.ts';
import { CALL_HELPER, OP_CALL } from '../bpf/isa.ts';
import { helperName } from '../bpf/kernel-helpers.ts';
import { idleMachine, load, openObject, type LoadedObject } from '../bpf/loader.ts';
import { formatMapFlags, mapTypeName } from '../bpf/maps/map.ts';
import { readInput } from '../bpf/program-file.ts';
import { SimKernel } from '../sched/kernel.ts';

interface Args {
  file: string;
  json: boolean;
  disasm: boolean;
}


export function describeObject(loaded: LoadedObject) {
  const obj = loaded.object;
  return {
    file: obj.file,
    license: obj.license,
    programs: obj.programs.map((p) => {
      const lp = loaded.programs.get(p.name)!;
      let count = 0;
      forEachInsn(lp.insns, () => count++);
      return {
        name: p.name,
        section: p.section,
        type: p.kind?.type ?? 'unknown',
        sleepable: p.kind?.sleepable ?? false,
        runnable: p.kind?.runnable ?? false,
        instructions: count,
        helpers: lp.helpers.map((id) => helperName(id) ?? `helper ${id}`),
        kfuncs: lp.kfuncs.map((k) => (loaded.kernel.kfuncId(k) === undefined ? `${k} (weak, not in this kernel)` : k)),
      };
    }),
    maps: [...loaded.maps].map(([name, m]) => ({
      name,
      type: mapTypeName(m.type),
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: formatMapFlags(m.flags),
    })),
    structOps: obj.structOps.map((s) => ({
      name: s.name,
      section: s.section,
      type: s.typeName,
      callbacks: Object.fromEntries(s.callbacks),
      fields: Object.fromEntries([...s.fields].map(([name, f]) => [name, fieldValue(s.data, f.offset, f.size, f.kind)])),
    })),
    coreRelocations: loaded.coreRecords.map((c) => ({
      program: c.program,
      instruction: c.insn,
      kind: c.kind,
      spec: c.spec,
      local: c.local.toString(),
      resolved: c.value === null ? null : c.value.toString(),
      ...(c.failure ? { failure: c.failure } : {}),
    })),
    skippedSections: obj.skipped,
  };
}

/** A data member as a number or, for char arrays, a string. */
function fieldValue(data: Uint8Array, offset: number, size: number, kind: string): string | number {
  const bytes = data.subarray(offset, offset + size);
  if (kind === 'array') {
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end));
  }
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
}

export const inspectCommand: CommandModule<object, Args> = {
  command: 'inspect <file>',
  describe: 'list the programs, maps, struct_ops, kfuncs, helpers and CO-RE relocations of a BPF object',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a clang-built .bpf.o' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
      .option('disasm', { type: 'boolean', default: false, describe: 'print each program with its C source lines' }),
  handler: (args) => {
    const obj = openObject(new Uint8Array(readInput(args.file)), args.file);
    const loaded = load(obj, new SimKernel(), idleMachine(), { engine: 'interp' });
    const d = describeObject(loaded);
    const out: string[] = [];
    if (args.json) {
      process.stdout.write(JSON.stringify(d, null, 2) + '\n');
      return;
    }
    out.push(`${d.file} (license ${d.license || 'none'})`, '', 'programs:');
    for (const p of d.programs) {
      out.push(`  ${p.name.padEnd(24)} ${p.section.padEnd(32)} ${String(p.instructions).padStart(5)} insns  ${p.runnable ? 'runnable' : 'not attachable here'}${p.sleepable ? ', sleepable' : ''}`);
      if (p.helpers.length) out.push(`    helpers: ${p.helpers.join(', ')}`);
      if (p.kfuncs.length) out.push(`    kfuncs:  ${p.kfuncs.join(', ')}`);
    }
    out.push('', 'maps:');
    for (const m of d.maps) out.push(`  ${m.name.padEnd(24)} ${m.type.padEnd(14)} key ${m.keySize} value ${m.valueSize} max ${m.maxEntries} flags ${m.flags}`);
    for (const s of d.structOps) {
      out.push('', `struct_ops ${s.name} (struct ${s.type}, ${s.section}):`);
      for (const [cb, prog] of Object.entries(s.callbacks)) out.push(`  .${cb} = ${prog}`);
      for (const [f, v] of Object.entries(s.fields)) out.push(`  .${f} = ${JSON.stringify(v)}`);
    }
    if (d.coreRelocations.length) {
      out.push('', 'CO-RE relocations:');
      for (const c of d.coreRelocations) {
        out.push(`  ${c.program}+${c.instruction}: ${c.kind} ${c.spec}: ${c.local} -> ${c.resolved ?? `poisoned (${c.failure})`}`);
      }
    }
    if (d.skippedSections.length) out.push('', 'skipped sections:', ...d.skippedSections.map((s) => `  ${s.section}: ${s.reason}`));
    if (args.disasm) {
      for (const [name, p] of loaded.programs) {
        out.push('', `${name}:`);
        let lastLine = '';
        forEachInsn(p.insns, (insn, pc) => {
          const line = p.lines[pc];
          const key = line ? `${line.file}:${line.line}` : '';
          if (line && key !== lastLine) out.push(`    ; ${line.text.trim()}  (${key})`);
          lastLine = key;
          const helper = insn.opcode === OP_CALL && insn.src === CALL_HELPER ? `  # ${helperName(insn.imm) ?? ''}` : '';
          out.push(`  ${String(pc).padStart(4)}: ${formatInsn(p.insns, pc)}${helper}`);
        });
      }
    }
    process.stdout.write(out.join('\n') + '\n');
  },
};
