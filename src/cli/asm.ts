import type { CommandModule } from 'yargs';
import { assemble, disassemble } from '../bpf/asm.ts';
import { INSN_SIZE, encode } from '../bpf/isa.ts';
import { readInput, readProgramFile } from '../bpf/program-file.ts';
import { writeFileAtomic } from '../util/fs.ts';

interface AsmArgs {
  file: string;
  output?: string;
}

export const asmCommand: CommandModule<object, AsmArgs> = {
  command: 'asm <file>',
  describe: 'assemble FILE.s into raw instruction bytes',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'assembler source' })
      .option('output', { alias: 'o', type: 'string', describe: 'output file (default: FILE with .bin)' }),
  handler: (args) => {
    const insns = assemble(readInput(args.file).toString('utf8'), { file: args.file });
    const out = args.output ?? args.file.replace(/\.[^./]*$/, '') + '.bin';
    writeFileAtomic(out, encode(insns));
    process.stdout.write(`${out}: ${insns.length} slots, ${insns.length * INSN_SIZE} bytes\n`);
  },
};

interface DisasmArgs {
  file: string;
  offsets: boolean;
  bytes: boolean;
}

export const disasmCommand: CommandModule<object, DisasmArgs> = {
  command: 'disasm <file>',
  describe: 'print the instructions of FILE (.bin, .s or a conformance .data file) as assembler text',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('offsets', { type: 'boolean', default: false, describe: 'print jump targets as +N/-N instead of labels' })
      .option('bytes', { type: 'boolean', default: false, describe: 'add each instruction\'s slot and raw bytes as a comment' }),
  handler: (args) => {
    const insns = readProgramFile(args.file);
    const text = disassemble(insns, { labels: !args.offsets, annotate: args.bytes });
    process.stdout.write(text);
  },
};
