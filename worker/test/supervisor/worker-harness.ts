/**
 * The worker machine wired to controllable fakes, for deterministic machine tests under
 * `vi.useFakeTimers()`: every step actor records its inputs and does what the test scripted
 * (resolve, reject, or hold until the test settles it), the jobs actor records what Running
 * forwards to it, and the notification actions record their calls.
 */
import { expect, vi } from 'vitest';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import { DEFAULT_TIMING, createWorkerMachine, type MachineTiming, type RunJobsEvent, type WorkerActor } from '../../src/supervisor/machine.js';
import { stateName } from '../../src/supervisor/transition-log.js';

/** What one call of a fake step does. */
export type Outcome<T> = { resolve: T } | { reject: unknown } | 'hold';

export const resolves = <T>(value: T): Outcome<T> => ({ resolve: value });
export const rejects = (error: unknown): Outcome<never> => ({ reject: error });
export const SUCCEEDS: Outcome<undefined> = { resolve: undefined };
/** The call stays pending until the test calls `release` or `fail`. */
export const HOLD = 'hold';

/** A fake promise step: each call takes the next scripted outcome, or the fallback once the script is used up. */
export class FakeStep<TOutput, TInput = unknown> {
  readonly inputs: TInput[] = [];
  private readonly script: Outcome<TOutput>[] = [];
  private readonly held: { resolve: (value: TOutput) => void; reject: (error: unknown) => void }[] = [];

  constructor(public fallback: Outcome<TOutput>) {}

  get calls(): number {
    return this.inputs.length;
  }

  /** Script the outcomes of the next calls, in order. */
  next(...outcomes: Outcome<TOutput>[]): this {
    this.script.push(...outcomes);
    return this;
  }

  /** Resolve the oldest held call. */
  release(value: TOutput): void {
    this.takeHeld().resolve(value);
  }

  /** Reject the oldest held call. */
  fail(error: unknown): void {
    this.takeHeld().reject(error);
  }

  readonly logic = fromPromise<TOutput, TInput>(({ input }) => {
    this.inputs.push(input);
    const outcome = this.script.shift() ?? this.fallback;
    if (outcome === HOLD) return new Promise<TOutput>((resolve, reject) => this.held.push({ resolve, reject }));
    return 'reject' in outcome ? Promise.reject(outcome.reject as Error) : Promise.resolve(outcome.resolve);
  });

  private takeHeld(): { resolve: (value: TOutput) => void; reject: (error: unknown) => void } {
    const call = this.held.shift();
    if (!call) throw new Error('no call of this step is held');
    return call;
  }
}

/** The fake job runner: counts its starts and stops and records the events Running forwards. */
export class FakeJobs {
  readonly received: RunJobsEvent[] = [];
  started = 0;
  stopped = 0;

  readonly logic = fromCallback<RunJobsEvent>(({ receive }) => {
    this.started += 1;
    receive((event) => this.received.push(event));
    return () => {
      this.stopped += 1;
    };
  });
}

export interface FailureNotice {
  step: string;
  error: string;
}

/**
 * A started worker actor and its fakes. Each step succeeds by default; `checkRclone` finds no
 * rclone. `script` adjusts the fakes before the start; `inspect` goes to `createActor`.
 */
export function startWorker(
  timing: MachineTiming = DEFAULT_TIMING,
  script: (fakes: WorkerFakes) => void = () => undefined,
  inspect?: (event: InspectionEvent) => void,
) {
  const fakes = createFakes();
  script(fakes);
  const machine = createWorkerMachine(timing).provide({
    actors: {
      checkConfig: fakes.checkConfig.logic,
      checkOnline: fakes.checkOnline.logic,
      loginBackends: fakes.loginBackends.logic,
      checkRclone: fakes.checkRclone.logic,
      startRclone: fakes.startRclone.logic,
      runJobs: fakes.jobs.logic,
      stopJobs: fakes.stopJobs.logic,
      restartForReauth: fakes.restartForReauth.logic,
      shutdown: fakes.shutdown.logic,
    },
    actions: {
      rcloneLost: fakes.rcloneLost,
      notifyFailure: (_, params) => fakes.failures.push(params),
    },
  });
  const actor: WorkerActor = createActor(machine, inspect ? { inspect } : {});
  started.add(actor);
  const errors: unknown[] = [];
  actor.subscribe({ error: (error: unknown) => errors.push(error) });
  actor.start();
  return {
    actor,
    fakes,
    /** Errors the actor reported to its observer; a machine that handles every failure has none. */
    errors,
    /** The current state as a dotted name, e.g. `CheckOnline.Backoff`. */
    state: () => stateName(actor.getSnapshot().value),
    context: () => actor.getSnapshot().context,
  };
}

const started = new Set<WorkerActor>();

/** Stop every worker started by this file's tests (for `afterEach`). */
export function stopWorkers(): void {
  for (const actor of started) actor.stop();
  started.clear();
}

export type Worker = ReturnType<typeof startWorker>;
export type WorkerFakes = ReturnType<typeof createFakes>;

function createFakes() {
  return {
    checkConfig: new FakeStep<void>(SUCCEEDS),
    checkOnline: new FakeStep<void>(SUCCEEDS),
    loginBackends: new FakeStep<void>(SUCCEEDS),
    checkRclone: new FakeStep<{ found: boolean }>(resolves({ found: false })),
    startRclone: new FakeStep<void>(SUCCEEDS),
    stopJobs: new FakeStep<void>(SUCCEEDS),
    restartForReauth: new FakeStep<void, { reason: string }>(SUCCEEDS),
    shutdown: new FakeStep<void, { reason: string }>(SUCCEEDS),
    jobs: new FakeJobs(),
    rcloneLost: vi.fn(),
    failures: [] as FailureNotice[],
  };
}

/** Let settled promise actors deliver their results (no fake time passes). */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

/** Let `ms` of fake time pass, firing `after` delays and flushing promise actors on the way. */
export async function elapse(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

/**
 * Assert that `step` is retried exactly `delayMs` after now: not one millisecond earlier, and
 * at that moment.
 */
export async function expectRetryAfter(step: { calls: number }, delayMs: number): Promise<void> {
  const before = step.calls;
  await elapse(delayMs - 1);
  expect(step.calls, `retried before ${delayMs} ms`).toBe(before);
  await elapse(1);
  expect(step.calls, `retried at ${delayMs} ms`).toBe(before + 1);
}
