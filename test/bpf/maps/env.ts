/** Shared set-up for the map tests: an address space, a settable current CPU, scratch memory. */
import { AddressSpace } from '../../../src/bpf/memory.ts';
import { createMap, type BpfMap, type MapEnv, type MapSpec } from '../../../src/bpf/maps/index.ts';

export interface TestEnv {
  env: MapEnv;
  mem: AddressSpace;
  setCpu(cpu: number): void;
  /** Value addresses passed to releaseFields, in order. */
  released: number[];
  /** A scratch area for keys and values a "program" passes by address. */
  scratch: number;
  /** Copy bytes to scratch + `off` and return that address. */
  put(bytes: Uint8Array | number[], off?: number): number;
  create<T extends BpfMap>(spec: Partial<MapSpec> & Pick<MapSpec, 'type'>): T;
}

export function testEnv(nrCpus = 4, seed = 0): TestEnv {
  const mem = new AddressSpace();
  let cpu = 0;
  const released: number[] = [];
  const env: MapEnv = {
    mem,
    nrCpus,
    seed,
    currentCpu: () => cpu,
    releaseFields: (_map, addr) => released.push(addr),
  };
  const scratch = mem.alloc('test scratch', 8192).start;
  return {
    env,
    mem,
    released,
    scratch,
    setCpu: (c) => {
      cpu = c;
    },
    put(bytes, off = 0) {
      mem.bytes.set(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), scratch + off);
      return scratch + off;
    },
    create<T extends BpfMap>(spec: Partial<MapSpec> & Pick<MapSpec, 'type'>): T {
      return createMap({ name: 'm', keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, ...spec }, env) as T;
    },
  };
}

/** Little-endian u32 bytes. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Little-endian u64 bytes of a number < 2^53. */
export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

export const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);
