/**
 * Random valid BPF programs for differential testing, built from a small structured language so
 * that every program passes the structural checks, terminates, and touches only memory it may:
 * its stack frame (through r10) and a buffer whose address arrives in r1 and is kept in r9.
 *
 * Register roles: r0..r5 and r8 hold data; r6 and r7 count loop iterations (outer, inner) and are
 * otherwise only read; r9 is the buffer pointer; r10 the frame pointer.
 */
import fc from 'fast-check';

export const BUFFER_SIZE = 64;
export const HELPER_MIX = 1;
export const HELPER_SUM = 2;
/** Helpers the JIT inlines: a word of the buffer, and a constant. */
export const HELPER_WORD = 3;
export const HELPER_CONST = 4;

export type Stmt =
  | { k: 'insn'; text: string }
  | { k: 'if'; cond: string; body: Stmt[]; orElse: Stmt[] }
  | { k: 'loop'; n: number; body: Stmt[]; mayGoto: boolean }
  | { k: 'irreducible'; n: number; cond: string; first: Stmt[]; second: Stmt[] }
  | { k: 'skip'; dead: Stmt[] }
  | { k: 'helper'; id: number; args: number[] }
  | { k: 'call'; fn: number };

export interface GenProgram {
  main: Stmt[];
  fns: Stmt[][];
  seeds: bigint[];
}

const DATA = [0, 1, 2, 3, 4, 5, 8];
const READABLE = [...DATA, 6, 7, 9];
const dataReg = fc.constantFrom(...DATA);
const readReg = fc.constantFrom(...READABLE);
const r = (n: number) => `%r${n}`;

const imm32 = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, -1, 2, 7, 31, 32, 63, 64, -(2 ** 31), 2 ** 31 - 1, 0xff, 0xffff),
);
const imm64 = fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), fc.constantFrom(0n, 1n, -1n, 1n << 63n, (1n << 32n) - 1n, 1n << 32n));

const ALU_OPS = ['add', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'mov'];
const JCC = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jset', 'jsgt', 'jsge', 'jslt', 'jsle'];

const aluInsn = fc
  .tuple(fc.constantFrom(...ALU_OPS), fc.constantFrom('', '32'), dataReg, fc.oneof(readReg.map(r), imm32.map(String)))
  .map(([op, w, d, s]) => `${op}${w} ${r(d)}, ${s}`);
const unaryInsn = fc.oneof(
  fc.tuple(fc.constantFrom('neg', 'neg32'), dataReg).map(([op, d]) => `${op} ${r(d)}`),
  fc.tuple(fc.constantFrom('movsx832', 'movsx1632', 'movsx864', 'movsx1664', 'movsx3264'), dataReg, readReg).map(([op, d, s]) => `${op} ${r(d)}, ${r(s)}`),
  fc.tuple(fc.constantFrom('be', 'le', 'bswap'), fc.constantFrom(16, 32, 64), dataReg).map(([op, w, d]) => `${op}${w} ${r(d)}`),
  fc.tuple(dataReg, imm64).map(([d, v]) => `lddw ${r(d)}, ${v}`),
);

const SIZES: [string, number][] = [['b', 1], ['h', 2], ['w', 4], ['dw', 8]];
/** A memory operand for an access of `size` bytes, aligned when `aligned`. */
const memOperand = (size: number, aligned: boolean) =>
  fc.oneof(
    // r10 and the buffer are 8-byte aligned, so aligned offsets give aligned addresses.
    fc.integer({ min: size, max: 512 }).map((k) => `[%r10-${aligned ? Math.ceil(k / size) * size : k}]`),
    fc.integer({ min: 0, max: BUFFER_SIZE - size }).map((k) => `[%r9+${aligned ? Math.floor(k / size) * size : k}]`),
  );
const memInsn = fc.oneof(
  fc.constantFrom(...SIZES).chain(([s, n]) => fc.tuple(dataReg, memOperand(n, false)).map(([d, m]) => `ldx${s} ${r(d)}, ${m}`)),
  fc.constantFrom(...SIZES.slice(0, 3)).chain(([s, n]) => fc.tuple(dataReg, memOperand(n, false)).map(([d, m]) => `ldxs${s} ${r(d)}, ${m}`)),
  fc.constantFrom(...SIZES).chain(([s, n]) => fc.tuple(memOperand(n, false), imm32).map(([m, v]) => `st${s} ${m}, ${v}`)),
  fc.constantFrom(...SIZES).chain(([s, n]) => fc.tuple(memOperand(n, false), readReg).map(([m, v]) => `stx${s} ${m}, ${r(v)}`)),
);
const atomicInsn = fc
  .tuple(fc.constantFrom('add', 'or', 'and', 'xor', 'xchg', 'cmpxchg'), fc.boolean(), fc.constantFrom('', '32'), dataReg)
  .chain(([op, fetch, w, s]) =>
    memOperand(w === '32' ? 4 : 8, true).map((m) => `lock ${fetch && op !== 'xchg' && op !== 'cmpxchg' ? 'fetch ' : ''}${op}${w} ${m}, ${r(s)}`),
  );
const cond = fc
  .tuple(fc.constantFrom(...JCC), fc.constantFrom('', '32'), readReg, fc.oneof(readReg.map(r), imm32.map(String)))
  .map(([op, w, d, s]) => `${op}${w} ${r(d)}, ${s}`);
const simple = fc.oneof({ weight: 5, arbitrary: aluInsn }, { weight: 2, arbitrary: unaryInsn }, { weight: 3, arbitrary: memInsn }, { weight: 1, arbitrary: atomicInsn }).map(
  (text): Stmt => ({ k: 'insn', text }),
);

/** Statements for function `fn` (0 = main) of `nFns`, at loop nesting `loops`. */
function stmts(fn: number, nFns: number, loops: number, depth: number): fc.Arbitrary<Stmt[]> {
  const options: fc.WeightedArbitrary<Stmt>[] = [{ weight: 12, arbitrary: simple }];
  options.push({
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(HELPER_MIX, HELPER_SUM, HELPER_WORD, HELPER_CONST), fc.array(readReg, { minLength: 5, maxLength: 5 })).map(([id, args]) => ({ k: 'helper', id, args })),
  });
  if (fn + 1 < nFns) {
    options.push({ weight: 1, arbitrary: fc.integer({ min: fn + 1, max: nFns - 1 }).map((f): Stmt => ({ k: 'call', fn: f })) });
  }
  if (depth < 3) {
    const inner = (l: number) => stmts(fn, nFns, l, depth + 1);
    options.push({
      weight: 2,
      arbitrary: fc.tuple(cond, inner(loops), fc.oneof(fc.constant([] as Stmt[]), inner(loops))).map(([c, body, orElse]): Stmt => ({ k: 'if', cond: c, body, orElse })),
    });
    options.push({ weight: 1, arbitrary: inner(loops).map((dead): Stmt => ({ k: 'skip', dead })) });
    if (loops < 2) {
      options.push({
        weight: 2,
        arbitrary: fc.tuple(fc.integer({ min: 1, max: 4 }), inner(loops + 1), fc.boolean()).map(([n, body, mayGoto]): Stmt => ({ k: 'loop', n, body, mayGoto })),
      });
      options.push({
        weight: 1,
        arbitrary: fc
          .tuple(fc.integer({ min: 1, max: 4 }), cond, inner(loops + 1), inner(loops + 1))
          .map(([n, c, first, second]): Stmt => ({ k: 'irreducible', n, cond: c, first, second })),
      });
    }
  }
  return fc.array(fc.oneof(...options), { minLength: 0, maxLength: depth === 0 ? 14 : 5 });
}

export const programArb: fc.Arbitrary<GenProgram> = fc.integer({ min: 1, max: 3 }).chain((nFns) =>
  fc.record({
    main: stmts(0, nFns, 0, 0),
    fns: fc.tuple(...Array.from({ length: nFns - 1 }, (_, i) => stmts(i + 1, nFns, 0, 0))).map((a) => a as Stmt[][]),
    seeds: fc.array(imm64, { minLength: DATA.length, maxLength: DATA.length }),
  }),
);

/** Assembly text of a generated program. */
export function toAsm(p: GenProgram): string {
  const out: string[] = [];
  let labels = 0;
  const fresh = () => `L${labels++}`;
  const reinitArgs = () => {
    for (let i = 1; i <= 5; i++) out.push(`mov %r${i}, ${i * 1000 + labels}`);
  };
  const emit = (list: Stmt[], loops: number): void => {
    for (const s of list) {
      switch (s.k) {
        case 'insn':
          out.push(s.text);
          break;
        case 'if': {
          const elseL = fresh();
          const endL = fresh();
          // A true condition skips the body (to the else part or the end).
          out.push(`${s.cond}, ${s.orElse.length ? elseL : endL}`);
          emit(s.body, loops);
          if (s.orElse.length) {
            out.push(`ja ${endL}`);
            out.push(`${elseL}:`);
            emit(s.orElse, loops);
          }
          out.push(`${endL}:`);
          break;
        }
        case 'loop': {
          const c = loops === 0 ? 6 : 7;
          const top = fresh();
          const end = fresh();
          out.push(`mov %r${c}, ${s.n}`, `${top}:`);
          emit(s.body, loops + 1);
          if (s.mayGoto) out.push(`may_goto ${end}`);
          out.push(`sub %r${c}, 1`, `jne %r${c}, 0, ${top}`, `${end}:`);
          break;
        }
        case 'irreducible': {
          const c = loops === 0 ? 6 : 7;
          const top = fresh();
          const mid = fresh();
          out.push(`mov %r${c}, ${s.n}`, `${s.cond}, ${mid}`, `${top}:`);
          emit(s.first, loops + 1);
          out.push(`${mid}:`);
          emit(s.second, loops + 1);
          out.push(`sub %r${c}, 1`, `jne %r${c}, 0, ${top}`);
          break;
        }
        case 'skip': {
          const end = fresh();
          out.push(`ja ${end}`);
          emit(s.dead, loops);
          out.push(`${end}:`);
          break;
        }
        case 'helper':
          s.args.forEach((a, i) => out.push(`mov %r${i + 1}, %r${a}`));
          out.push(`call ${s.id}`);
          reinitArgs();
          break;
        case 'call':
          out.push('mov %r1, %r9', `call local fn${s.fn}`);
          reinitArgs();
          break;
      }
    }
  };
  const body = (name: string, list: Stmt[]) => {
    out.push(`${name}:`, 'mov %r9, %r1', 'mov %r6, 0', 'mov %r7, 0');
    DATA.forEach((reg, i) => out.push(`lddw %r${reg}, ${p.seeds[(i + name.length) % p.seeds.length]}`));
    emit(list, 0);
    for (const reg of DATA) if (reg !== 0) out.push(`xor %r0, %r${reg}`);
    out.push('exit');
  };
  body('main', p.main);
  p.fns.forEach((f, i) => body(`fn${i + 1}`, f));
  return out.join('\n') + '\n';
}
