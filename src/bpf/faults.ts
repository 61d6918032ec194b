/**
 * Run-time fault reasons shared by the engines, so the interpreter and the JIT describe the same
 * fault in the same words.
 */
import { MAX_CALL_FRAMES } from './isa.ts';

export const faultText = {
  callDepth: (): string => `call depth exceeds the limit of ${MAX_CALL_FRAMES} frames`,
  misalignedAtomic: (addr: number | bigint): string => `misaligned atomic access at 0x${addr.toString(16)}`,
  insnLimit: (limit: number): string => `instruction limit of ${limit} reached`,
  addrSpaceCast: (): string => 'addr_space_cast needs an arena map, and this address space has none',
  noPacket: (): string => 'legacy packet load without a packet (no packet context in this run)',
  leftProgram: (): string => 'execution left the program',
} as const;
