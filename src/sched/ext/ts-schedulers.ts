/**
 * The bundled C schedulers written again in TypeScript, line for line (schedulers/fifo.bpf.c,
 * schedulers/vtime.bpf.c). They prototype policies without a compiler and serve as twins: the
 * same policy in C (through the JIT) and in TypeScript must schedule identically.
 */
import { fieldOf } from '../../bpf/ctypes.ts';
import { taskStruct } from '../kernel-types.ts';
import type { TsKernelApi, TsSchedulerDef } from './ops.ts';

const SCX_DSQ_LOCAL = 0x8000000000000002n;
const SCX_SLICE_DFL = 20_000_000n;
const SHARED_DSQ = 0;
const OFF = {
  slice: fieldOf(taskStruct, 'scx.slice').offset,
  dsqVtime: fieldOf(taskStruct, 'scx.dsq_vtime').offset,
  weight: fieldOf(taskStruct, 'scx.weight').offset,
};
const u64 = (v: bigint) => BigInt.asUintN(64, v);

/** The default CPU selection with a direct local insert when an idle CPU was found. */
function selectCpu(api: TsKernelApi, p: number, prevCpu: number, wakeFlags: number): number {
  const view = api.km.mem.view;
  view.setUint8(api.scratch, 0);
  const cpu = Number(api.kfunc('scx_bpf_select_cpu_dfl', p, prevCpu, wakeFlags, api.scratch));
  if (view.getUint8(api.scratch)) api.kfunc('scx_bpf_dsq_insert', p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
  return cpu;
}

export function tsFifo(api: TsKernelApi): TsSchedulerDef {
  return {
    name: 'fifo',
    callbacks: {
      select_cpu: (p, prevCpu, wakeFlags) => selectCpu(api, p, prevCpu, wakeFlags),
      enqueue: (p, enqFlags) => {
        api.kfunc('scx_bpf_dsq_insert', p, SHARED_DSQ, SCX_SLICE_DFL, enqFlags);
      },
      dispatch: () => {
        api.kfunc('scx_bpf_dsq_move_to_local', SHARED_DSQ);
      },
      init: () => Number(api.kfunc('scx_bpf_create_dsq', SHARED_DSQ, -1)),
    },
  };
}

export function tsVtime(api: TsKernelApi): TsSchedulerDef {
  let vtimeNow = 0n;
  const view = () => api.km.mem.view;
  const vtimeBefore = (a: bigint, b: bigint) => BigInt.asIntN(64, a - b) < 0n;
  const getVtime = (p: number) => view().getBigUint64(p + OFF.dsqVtime, true);
  const setVtime = (p: number, v: bigint) => view().setBigUint64(p + OFF.dsqVtime, u64(v), true);
  return {
    name: 'vtime',
    callbacks: {
      select_cpu: (p, prevCpu, wakeFlags) => selectCpu(api, p, prevCpu, wakeFlags),
      enqueue: (p, enqFlags) => {
        let vtime = getVtime(p);
        // Sleep credit is capped at one slice.
        if (vtimeBefore(vtime, u64(vtimeNow - SCX_SLICE_DFL))) vtime = u64(vtimeNow - SCX_SLICE_DFL);
        api.kfunc('scx_bpf_dsq_insert_vtime', p, SHARED_DSQ, SCX_SLICE_DFL, vtime, enqFlags);
      },
      dispatch: () => {
        api.kfunc('scx_bpf_dsq_move_to_local', SHARED_DSQ);
      },
      running: (p) => {
        if (vtimeBefore(vtimeNow, getVtime(p))) vtimeNow = getVtime(p);
      },
      stopping: (p) => {
        const slice = view().getBigUint64(p + OFF.slice, true);
        const weight = BigInt(view().getUint32(p + OFF.weight, true));
        setVtime(p, getVtime(p) + u64(SCX_SLICE_DFL - slice) * 100n / weight);
      },
      enable: (p) => setVtime(p, vtimeNow),
      init: () => Number(api.kfunc('scx_bpf_create_dsq', SHARED_DSQ, -1)),
    },
  };
}
