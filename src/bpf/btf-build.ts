/**
 * Build a BTF from C type declarations (ctypes.ts): the simulated kernel's BTF, whose layouts are
 * by construction the ones the simulator uses in memory, plus a FUNC entry per kfunc (its id is
 * what a kfunc call instruction carries).
 */
import { Btf, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, LINKAGE_GLOBAL, emptyType, type BtfType } from './btf.ts';
import { layout, type CType, type FuncProtoType } from './ctypes.ts';

export class BtfBuilder {
  private readonly types: BtfType[] = [emptyType(0, 'void', '')];
  private readonly ids = new Map<CType, number>();

  /** The id of a type, adding it (and what it refers to) on first use. */
  add(t: CType): number {
    if (t.kind === 'void') return 0;
    const known = this.ids.get(t);
    if (known !== undefined) return known;
    const id = this.types.length;
    const b = emptyType(id, t.kind === 'func_proto' ? 'func_proto' : t.kind, 'name' in t ? t.name : '');
    this.types.push(b);
    this.ids.set(t, id);
    switch (t.kind) {
      case 'int':
        b.size = t.size;
        b.bits = t.size * 8;
        b.encoding = (t.signed ? BTF_INT_SIGNED : 0) | (t.char ? BTF_INT_CHAR : 0) | (t.bool ? BTF_INT_BOOL : 0);
        break;
      case 'ptr':
        b.type = t.const ? this.addConst(t.to) : this.add(t.to);
        break;
      case 'array':
        b.elemType = this.add(t.elem);
        b.indexType = this.add({ kind: 'int', name: 'int', size: 4, signed: true });
        b.nelems = t.length;
        break;
      case 'struct':
      case 'union':
        b.size = layout(t).size;
        for (const m of t.members) b.members.push({ name: m.name, type: this.add(m.type), bitOffset: m.offset * 8, bitSize: 0 });
        break;
      case 'enum':
        b.kind = t.size === 8 ? 'enum64' : 'enum';
        b.size = t.size;
        b.encoding = t.signed ? 1 : 0;
        b.values = t.values.map(([name, value]) => ({ name, value }));
        break;
      case 'typedef':
        b.type = this.add(t.type);
        break;
      case 'func_proto':
        b.type = this.add(t.ret);
        b.params = t.params.map((p) => ({ name: p.name, type: this.add(p.type) }));
        break;
    }
    return id;
  }

  /** A `const T` (pointers to const keep the qualifier, as vmlinux BTF does). */
  private addConst(t: CType): number {
    const inner = this.add(t);
    const id = this.types.length;
    const b = emptyType(id, 'const', '');
    b.type = inner;
    this.types.push(b);
    return id;
  }

  /** A global function with this prototype (a kfunc); returns the FUNC's id. */
  addFunc(name: string, proto: FuncProtoType): number {
    const protoId = this.add(proto);
    const id = this.types.length;
    const b = emptyType(id, 'func', name);
    b.type = protoId;
    b.linkage = LINKAGE_GLOBAL;
    this.types.push(b);
    return id;
  }

  build(): Btf {
    return new Btf(this.types.slice(), new Uint8Array([0]));
  }
}
