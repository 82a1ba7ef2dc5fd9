/**
 * Liveness and readiness, as service managers and orchestrators use them:
 *
 * - **live** (`/healthz`): the worker's state machine is still running. A worker that retries a
 *   failing hub login, waits out an rclone restart backoff or was stopped by the operator is
 *   alive — restarting the process would not help it. Only a machine that ended or failed is dead.
 * - **ready** (`/readyz`): the worker takes jobs now: the machine is `Running` (hub login done,
 *   storages loaded, remotes configured, not stopped by the operator) and its rclone is up.
 *   SignalR is reported but not required: without it the worker still finds jobs by polling.
 */
export interface HealthFacts {
  /** The machine's current state (`Running`, `StartRCloneProcess.Backoff`, …). */
  state: string;
  /** The machine has not reached a final state or failed. */
  machineActive: boolean;
  rcloneUp: boolean;
  signalrConnected: boolean;
}

export interface Probe {
  ok: boolean;
  body: Record<string, unknown>;
}

export function liveness(facts: HealthFacts): Probe {
  return { ok: facts.machineActive, body: { status: facts.machineActive ? 'ok' : 'stopped', state: facts.state } };
}

export function readiness(facts: HealthFacts): Probe {
  const checks = { running: facts.state === 'Running', rclone: facts.rcloneUp, signalr: facts.signalrConnected };
  const ok = facts.machineActive && checks.running && checks.rclone;
  return { ok, body: { status: ok ? 'ready' : 'not-ready', state: facts.state, checks } };
}
