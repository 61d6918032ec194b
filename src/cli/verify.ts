/**
 * `scx-sim verify`: run the verifier on a BPF object (every program, in kernel mode, as loading
 * for a simulation does) or on a bare program in assembler text, and print the verdict; with
 * `--log`, the abstract state before every instruction processed, with the C line it came from.
 */
import type { CommandModule } from 'yargs';
import { extname } from 'node:path';
import { formatInsn } from '../bpf/asm.ts';
import { assembleObject, isObjectSource } from '../bpf/asm-object.ts';
import { helperTable } from '../bpf/helpers.ts';
import { HelperId } from '../bpf/kernel-helpers.ts';
import type { LineInfo } from '../bpf/btf-view.ts';
import { LoadError, idleMachine, load, openObject } from '../bpf/loader.ts';
import { readInput, readProgramFile } from '../bpf/program-file.ts';
import { analyze } from '../bpf/verifier/analyze.ts';
import { SimKernel } from '../sched/kernel.ts';
import { ExitStatus } from './exit.ts';

interface Args {
  file: string;
  log: boolean;
  permissive: boolean;
}

const KERNEL_HELPERS = helperTable(Object.entries(HelperId).map(([name, id]) => ({ id, name: `bpf_${name}`, fn: () => 0 })));

export const verifyCommand: CommandModule<object, Args> = {
  command: 'verify <file>',
  describe: 'verify a BPF object (.bpf.o) or a program in assembler text (.s) as Linux would, and say why not',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a clang-built .bpf.o, or a .s / .bin / .data program' })
      .option('log', { type: 'boolean', default: false, describe: 'print the verifier state before each instruction it processes' })
      .option('permissive', { type: 'boolean', default: false, describe: 'memory safety only (as for ISA-level tests), not every Linux rule' }),
  handler: (args) => {
    const mode = args.permissive ? 'permissive' : 'kernel';
    const out = (line: string) => process.stdout.write(line + '\n');
    const objectSource = extname(args.file) === '.s' && isObjectSource(readInput(args.file).toString('utf8'));
    if (extname(args.file) === '.o' || objectSource) {
      // An assembler source with object directives is verified as the object it assembles to.
      const bytes = objectSource ? assembleObject(readInput(args.file).toString('utf8'), { file: args.file }) : new Uint8Array(readInput(args.file));
      const obj = openObject(bytes, args.file);
      let lastKey = '';
      const verifierLog = args.log
        ? (program: string, pc: number, insn: string, line: LineInfo | undefined, state: string) => {
            const key = line ? `${program}:${line.file}:${line.line}` : program;
            if (key !== lastKey && line) out(`${program}: ; ${line.text.trim()}  (${line.file}:${line.line})`);
            lastKey = key;
            out(`${program}: ${String(pc).padStart(5)}: ${insn.padEnd(28)} ; ${state}`);
          }
        : undefined;
      try {
        const loaded = load(obj, new SimKernel(), idleMachine(), { mode, verifierLog, engine: 'interp' });
        out(`${args.file}: verified (${mode} mode), ${loaded.programs.size} program${loaded.programs.size === 1 ? '' : 's'}`);
        for (const [name, p] of loaded.programs) {
          out(`  ${name.padEnd(28)} ${p.section.padEnd(36)} ${String(p.insns.length).padStart(5)} insns, ${p.insnsProcessed} processed`);
        }
      } catch (e) {
        if (!(e instanceof LoadError)) throw e;
        process.stderr.write(`${e.message}\n`);
        throw new ExitStatus(1);
      }
      return;
    }
    const insns = readProgramFile(args.file);
    const verdict = analyze(insns, {
      mode,
      helpers: KERNEL_HELPERS,
      log: args.log ? (pc, state) => out(`${String(pc).padStart(5)}: ${formatInsn(insns, pc).padEnd(28)} ; ${state}`) : undefined,
    });
    if (verdict.ok) {
      out(`${args.file}: verified (${mode} mode), ${insns.length} insns, ${verdict.insnsProcessed} processed`);
      return;
    }
    process.stderr.write(`${args.file}: ${verdict.message}\n`);
    throw new ExitStatus(1);
  },
};
