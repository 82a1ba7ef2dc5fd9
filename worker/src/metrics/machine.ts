/**
 * Metrics from the state machine's transitions (supervisor/machine.ts): the state it is in, the
 * steps that failed, and rclone restarts — a restart is a transition, so it is counted where the
 * machine decides it, not guessed from process exits.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RootTransition } from '../supervisor/transition-log.js';
import { LabelGuard } from './label-guard.js';
import { METRIC_PREFIX } from './names.js';

export interface MachineRecorder {
  transitioned(transition: RootTransition): void;
  /** A step failed and will be retried with backoff (the machine's `notifyFailure`). */
  stepFailed(step: string): void;
}

/** The transitions that restart rclone, and why. */
const RESTARTS: readonly { cause: string; matches: (t: RootTransition) => boolean }[] = [
  // rclone exited on its own (crash, OOM kill, SIGKILL) in any state that had it running.
  { cause: 'crash', matches: (t) => t.to === 'StartRCloneProcess.Backoff' && t.event === 'RCLONE.EXITED' },
  // A re-authentication that needs a fresh rclone (reauth/coordinator.ts).
  { cause: 'reauth', matches: (t) => t.to === 'RestartingForReauth' },
];

const MAX_STEP_LABELS = 20;

/** `StartRCloneProcess.Backoff` → `StartRCloneProcess`. */
export function topState(name: string): string {
  return name.split(/[.,]/)[0] ?? name;
}

/** `states`: the machine's top-level state names, so every series exists from the start. */
export function createMachineMetrics(registry: Registry, states: readonly string[]): MachineRecorder {
  const registers = [registry];
  const steps = new LabelGuard(MAX_STEP_LABELS);
  const state = new Gauge({
    name: `${METRIC_PREFIX}machine_state`,
    help: "1 for the worker state machine's current top-level state (Running = taking jobs), 0 for the others.",
    labelNames: ['state'],
    registers,
  });
  for (const name of states) state.set({ state: name }, 0);
  const failures = new Counter({
    name: `${METRIC_PREFIX}machine_step_failures_total`,
    help: 'Failed steps of the state machine (retried with backoff), by step.',
    labelNames: ['step'],
    registers,
  });
  const restarts = new Counter({
    name: `${METRIC_PREFIX}rclone_restarts_total`,
    help: 'rclone restarts decided by the worker, by cause (crash: rclone exited on its own; reauth: restart for a re-authentication).',
    labelNames: ['cause'],
    registers,
  });
  for (const { cause } of RESTARTS) restarts.inc({ cause }, 0);
  let current: string | undefined;

  return {
    transitioned(transition) {
      const top = topState(transition.to);
      if (top !== current) {
        if (current !== undefined) state.set({ state: current }, 0);
        state.set({ state: top }, 1);
        current = top;
      }
      for (const restart of RESTARTS) if (restart.matches(transition)) restarts.inc({ cause: restart.cause });
    },
    stepFailed(step) {
      failures.inc({ step: steps.value(step) });
    },
  };
}
