/**
 * Control-flow analysis of one subprogram for the JIT: basic blocks, reverse postorder,
 * dominators (Cooper, Harvey and Kennedy's iterative algorithm), loop headers, merge nodes, and
 * whether the graph is reducible. These are the inputs of the structured-control-flow translation
 * in Ramsey's "Beyond Relooper" (ICFP 2022), which `compile.ts` follows.
 */
import { OP_EXIT, OP_JA, OP_JA32, OP_LDDW, branchTarget, isJmp, OP_CALL, OP_CALLX, type Insn } from '../isa.ts';

export interface Block {
  id: number;
  /** First slot. */
  start: number;
  /** One past the last slot. */
  end: number;
  /** Slot of the last instruction. */
  last: number;
  /** Successor block ids: [fall-through or target] or, for a conditional, [fall-through, target]. */
  succs: number[];
}

export interface Cfg {
  blocks: Block[];
  entry: number;
  /** Reachable block ids in reverse postorder. */
  rpo: number[];
  /** Position of each block in `rpo`, -1 when unreachable. */
  rpoIndex: Int32Array;
  /** Immediate dominator of each reachable block (the entry is its own). */
  idom: Int32Array;
  /** Dominator-tree children of each block, in reverse postorder. */
  children: number[][];
  loopHeader: boolean[];
  /** Two or more forward (non-back-edge) predecessors. */
  mergeNode: boolean[];
  reducible: boolean;
}

/** Whether control can continue from `insn` to the next slot. */
function fallsThrough(insn: Insn): boolean {
  const op = insn.opcode;
  return op !== OP_EXIT && op !== OP_JA && op !== OP_JA32;
}

function endsBlock(insn: Insn): boolean {
  return isJmp(insn.opcode) && insn.opcode !== OP_CALL && insn.opcode !== OP_CALLX;
}

/** Build the CFG of the subprogram occupying slots [start, end). */
export function buildCfg(insns: readonly Insn[], start: number, end: number): Cfg {
  const leader = new Set<number>([start]);
  for (let pc = start; pc < end; pc++) {
    const insn = insns[pc];
    if (insn.opcode === OP_LDDW) {
      pc++;
      continue;
    }
    if (!endsBlock(insn)) continue;
    const t = branchTarget(insn, pc);
    if (t !== null) leader.add(t);
    if (pc + 1 < end) leader.add(pc + 1);
  }
  const starts = [...leader].sort((a, b) => a - b);
  const blockAt = new Map<number, number>();
  starts.forEach((s, i) => blockAt.set(s, i));
  const blocks: Block[] = starts.map((s, i) => {
    const e = i + 1 < starts.length ? starts[i + 1] : end;
    let last = s;
    for (let pc = s; pc < e; pc += insns[pc].opcode === OP_LDDW ? 2 : 1) last = pc;
    return { id: i, start: s, end: e, last, succs: [] };
  });
  for (const b of blocks) {
    const insn = insns[b.last];
    if (fallsThrough(insn) && b.end < end) b.succs.push(blockAt.get(b.end)!);
    if (endsBlock(insn)) {
      const t = branchTarget(insn, b.last);
      if (t !== null) b.succs.push(blockAt.get(t)!);
    }
  }
  return analyse(blocks, 0);
}

function analyse(blocks: Block[], entry: number): Cfg {
  const n = blocks.length;
  // Iterative DFS for postorder.
  const visited = new Uint8Array(n);
  const post: number[] = [];
  const stack: [number, number][] = [[entry, 0]];
  visited[entry] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [b, i] = top;
    const succs = blocks[b].succs;
    if (i < succs.length) {
      top[1]++;
      const s = succs[i];
      if (!visited[s]) {
        visited[s] = 1;
        stack.push([s, 0]);
      }
    } else {
      post.push(b);
      stack.pop();
    }
  }
  const rpo = post.reverse();
  const rpoIndex = new Int32Array(n).fill(-1);
  rpo.forEach((b, i) => (rpoIndex[b] = i));

  const preds: number[][] = blocks.map(() => []);
  for (const b of rpo) for (const s of blocks[b].succs) preds[s].push(b);

  const idom = new Int32Array(n).fill(-1);
  idom[entry] = entry;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (rpoIndex[a] > rpoIndex[b]) a = idom[a];
      while (rpoIndex[b] > rpoIndex[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of rpo) {
      if (b === entry) continue;
      let d = -1;
      for (const p of preds[b]) {
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  const dominates = (a: number, b: number): boolean => {
    for (;;) {
      if (a === b) return true;
      if (b === entry) return false;
      b = idom[b];
    }
  };

  const loopHeader = new Array<boolean>(n).fill(false);
  const forwardPreds = new Int32Array(n);
  let reducible = true;
  for (const b of rpo) {
    for (const s of blocks[b].succs) {
      if (rpoIndex[s] <= rpoIndex[b]) {
        loopHeader[s] = true;
        if (!dominates(s, b)) reducible = false;
      } else {
        forwardPreds[s]++;
      }
    }
  }
  const mergeNode = Array.from(forwardPreds, (c) => c >= 2);
  const children: number[][] = blocks.map(() => []);
  for (const b of rpo) if (b !== entry) children[idom[b]].push(b);
  return { blocks, entry, rpo, rpoIndex, idom, children, loopHeader, mergeNode, reducible };
}
