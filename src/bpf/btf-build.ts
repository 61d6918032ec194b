/**
 * Build a BTF from C type declarations (ctypes.ts): the simulated kernel's BTF, whose layouts are
 * by construction the ones the simulator uses in memory, plus a FUNC entry per kfunc (its id is
 * what a kfunc call instruction carries). This file only maps ctypes onto btf.ts's BtfBuilder,
 * which does the encoding and checking.
 */
import { BtfBuilder, type Btf } from './btf.ts';
import { layout, type CType, type FuncProtoType } from './ctypes.ts';

export class CTypeBtfBuilder {
  private readonly btf = new BtfBuilder();
  private readonly ids = new Map<CType, number>();

  /**
   * The id of a type, adding it (and what it refers to) on first use. Ids are handed out depth
   * first, a type before the types it refers to, and kept stable on purpose: kfunc ids end up in
   * loaded instructions. So the new types are numbered first, then added in id order, each
   * referring to ids that are already fixed.
   */
  add(t: CType): number {
    const pending: (() => number)[] = [];
    const id = this.number(t, pending);
    const first = this.btf.count;
    pending.forEach((addOne, i) => {
      const got = addOne();
      if (got !== first + i) throw new Error(`CTypeBtfBuilder: type numbered ${first + i} was added as ${got}`);
    });
    return id;
  }

  /** A global function with this prototype (a kfunc); returns the FUNC's id. */
  addFunc(name: string, proto: FuncProtoType): number {
    return this.btf.addFunc(name, this.add(proto), 'global');
  }

  build(): Btf {
    return this.btf.build();
  }

  /** Give `t` and every new type it refers to an id; `pending[i]` adds the i-th new one. */
  private number(t: CType, pending: (() => number)[]): number {
    if (t.kind === 'void') return 0;
    const known = this.ids.get(t);
    if (known !== undefined) return known;
    const b = this.btf;
    // Nothing is added to `b` while numbering, so new id = b.count + index in `pending`.
    const reserve = (): number => b.count + pending.push(() => -1) - 1;
    const define = (newId: number, addOne: () => number) => (pending[newId - b.count] = addOne);
    const id = reserve();
    this.ids.set(t, id);
    switch (t.kind) {
      case 'int':
        define(id, () => b.addInt(t.name, t.size, { signed: t.signed, char: t.char, bool: t.bool }));
        break;
      case 'ptr': {
        let to = this.number(t.to, pending);
        if (t.const) {
          // A pointer to const keeps the qualifier, as vmlinux BTF does (one const per pointer).
          const pointee = to;
          to = reserve();
          define(to, () => b.addConst(pointee));
        }
        const target = to;
        define(id, () => b.addPtr(target));
        break;
      }
      case 'array': {
        const elem = this.number(t.elem, pending);
        // Each array gets its own `int` index type: unlike clang's one shared
        // __ARRAY_SIZE_TYPE__, but harmless, and changing it would renumber the kfuncs.
        const index = reserve();
        define(index, () => b.addInt('int', 4, { signed: true }));
        define(id, () => b.addArray(elem, t.length, index));
        break;
      }
      case 'struct':
      case 'union': {
        const size = layout(t).size;
        const members = t.members.map((m) => ({ name: m.name, type: this.number(m.type, pending), offset: m.offset }));
        define(id, () => (t.kind === 'struct' ? b.addStruct(t.name, members, size) : b.addUnion(t.name, members, size)));
        break;
      }
      case 'enum':
        define(id, () => (t.size === 8 ? b.addEnum64(t.name, t.values, { signed: t.signed }) : b.addEnum(t.name, t.values, { size: t.size, signed: t.signed })));
        break;
      case 'typedef': {
        const to = this.number(t.type, pending);
        define(id, () => b.addTypedef(t.name, to));
        break;
      }
      case 'func_proto': {
        const ret = this.number(t.ret, pending);
        const params = t.params.map((p) => ({ name: p.name, type: this.number(p.type, pending) }));
        define(id, () => b.addFuncProto(ret, params));
        break;
      }
    }
    return id;
  }
}
