/**
 * Every object of the verifier's positive corpus (accept-corpus.ts) loads and runs a mixed
 * workload on a 4-CPU machine, with the machine's invariants checked after every event,
 * without the scheduler being aborted with an error; every callback it implements is called.
 * The callbacks that only run at an exit (exit, dump, dump_cpu, dump_task) get scenarios of
 * their own.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { idleMachine, loadObject } from '../../../src/bpf/loader.ts';
import { SimKernel } from '../../../src/sched/kernel.ts';
import { ACCEPT_DIR, ACCEPT_OBJECTS, mixedWorkload, runAccepted } from './accept-corpus.ts';

const MS = 1_000_000;
/** scx_exit_kind: SCX_EXIT_ERROR (1024) and above are errors; SCX_EXIT_UNREG_BPF is not. */
const SCX_EXIT_UNREG_BPF = 65;
const SCX_EXIT_ERROR = 1024;
const SCX_EXIT_ERROR_BPF = 1025;

/** The sched_ext_ops members a source wires in SCX_OPS_DEFINE. */
function wiredCallbacks(path: string): string[] {
  const src = readFileSync(path.replace(/\.o$/, '.c'), 'utf8');
  return [...src.matchAll(/\.(\w+) = \(void \*\)\w+/g)].map((m) => m[1]);
}

/** Callbacks that only run when the scheduler exits (exit) or errors (dump*). */
const AT_EXIT_ONLY = new Set(['exit', 'dump', 'dump_cpu', 'dump_task']);
const nameOf = (path: string) => path.slice(ACCEPT_DIR.length + 1);

describe('the verifier positive corpus runs in the simulator', () => {
  it('has the corpus', () => {
    expect(ACCEPT_OBJECTS.length).toBeGreaterThanOrEqual(15);
  });

  for (const path of ACCEPT_OBJECTS) {
    it(`${nameOf(path)} runs a mixed workload on 4 CPUs without an error exit, every callback exercised`, () => {
      const r = runAccepted(path);
      if (r.exit) expect(r.exit.kind, `${r.exit.reason}: ${r.exit.msg}`).toBeLessThan(SCX_EXIT_ERROR);
      expect(r.bpfInsns).toBeGreaterThan(1000);
      expect(r.tasks.reduce((n, t) => n + t.runtime, 0)).toBeGreaterThan(100 * MS);
      for (const cb of wiredCallbacks(path)) {
        if (AT_EXIT_ONLY.has(cb)) continue;
        expect(r.callbacks?.[cb] ?? 0, `${cb} was never called`).toBeGreaterThan(0);
      }
    });
  }

  it('exit-unreg.bpf.o unregisters itself with scx_bpf_exit (not an error) and its ops.exit runs', () => {
    const r = runAccepted(`${ACCEPT_DIR}/exit-unreg.bpf.o`);
    expect(r.exit).toMatchObject({ kind: SCX_EXIT_UNREG_BPF, exitCode: 42n });
    expect(r.exit!.msg).toMatch(/^done after 150 ticks \(last pid \d+\)$/);
    expect(r.callbacks!.exit).toBe(1);
    // The teardown disables every task the scheduler had.
    expect(r.callbacks!.disable).toBeGreaterThan(5);
  });

  it('dump.bpf.o writes the debug dump from dump, dump_cpu and dump_task when a "boom" task makes it error', () => {
    const tasks = [...mixedWorkload(), { pid: 14, comm: 'boom', arrival: 50 * MS, phases: [{ run: 1 * MS }] }];
    const r = runAccepted(`${ACCEPT_DIR}/dump.bpf.o`, tasks);
    expect(r.exit).toMatchObject({ kind: SCX_EXIT_ERROR_BPF });
    expect(r.exit!.msg).toMatch(/task 14 \(boom\) asked for it/);
    const dump = r.exit!.dump!;
    expect(dump).toMatch(/accept_dump: kind=1025 code=0 at=\d+ dispatched=\d+ queued=\d+/);
    expect(dump).toMatch(/accept_dump: cpu \d busy, perf \d+/);
    expect(dump).toMatch(/accept_dump: task \d+ weight \d+ runs \d+/);
    for (const cb of ['dump', 'dump_cpu', 'dump_task']) expect(r.callbacks![cb], cb).toBeGreaterThan(0);
  });
});

describe('the verifier accepts the positive corpus', () => {
  // Loading verifies every program (kernel mode); this names the object and the verdict alone.
  for (const path of ACCEPT_OBJECTS) {
    it(`verifies ${nameOf(path)}`, () => {
      const loaded = loadObject(new Uint8Array(readFileSync(path)), nameOf(path), new SimKernel(), idleMachine(4));
      expect(loaded.programs.size).toBeGreaterThan(0);
    });
  }
});
