import type { CommandModule } from 'yargs';
import { assemble, disassemble } from '../bpf/asm.ts';
import { assembleObject, isObjectSource } from '../bpf/asm-object.ts';
import { INSN_SIZE, encode } from '../bpf/isa.ts';
import { readInput, readProgramFile } from '../bpf/program-file.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { ScxError } from '../util/errors.ts';

interface AsmArgs {
  file: string;
  output?: string;
}

export const asmCommand: CommandModule<object, AsmArgs> = {
  command: 'asm <file>',
  describe: 'assemble FILE.s into raw instruction bytes, or into a BPF ELF object if it uses .program directives (schedulers/README.md)',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'assembler source' })
      .option('output', { alias: 'o', type: 'string', describe: 'output file (default: FILE with .bin, or .bpf.o for an object)' }),
  handler: (args) => {
    const source = readInput(args.file).toString('utf8');
    const stem = args.file.replace(/\.[^./]*$/, '');
    if (isObjectSource(source)) {
      const bytes = assembleObject(source, { file: args.file });
      const out = args.output ?? `${stem}.bpf.o`;
      writeFileAtomic(out, bytes);
      process.stdout.write(`${out}: BPF object, ${bytes.length} bytes\n`);
      return;
    }
    if (args.output?.endsWith('.o')) {
      throw new ScxError(`${args.file}: an object (${args.output}) needs .program directives; without them the file is one bare program (write it to a .bin)`);
    }
    const insns = assemble(source, { file: args.file });
    const out = args.output ?? `${stem}.bin`;
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
