/**
 * `strategies`: what this worker's token strategy buys over the alternatives, on the same job.
 * One long local → GCS upload (60 × 100 kB, paced by the stand-in's link to last ≥ 6 lifetimes
 * of its 20 s access tokens, Microsoft-style rotating refresh tokens), and the same job with the
 * grant revoked at 30 % and a new one saved at the hub 10 s later, each run three ways:
 *
 * - `push`: this worker as users run it (the worker refreshes and pushes the access token);
 * - `restart`: rclone holds only the access token; auth trouble → refresh, restart rclone, re-run
 *   (the .NET worker's mid-job mechanism, `baseline/restart.ts`);
 * - `rclone-refresh`: rclone holds the refresh token and client secret and refreshes by itself
 *   (the .NET worker as shipped, `baseline/rclone-refresh.ts`).
 *
 * Figures come from the stand-ins' counters; each alternative also gets its ratio to `push`
 * (left out where `push` measured 0).
 */
import { RESTART_POLICY } from './baseline/driver.js';
import { percentText, type BenchResult, type Figure, type Goal } from './report.js';
import { FILE_BYTES, FILES, runStrategy, STRATEGIES, TOKEN_LIFETIME_SECONDS, type RunResult, type Scenario, type Strategy } from './strategy-run.js';

interface Row {
  figure: string;
  unit: string;
  value: (run: RunResult) => number;
  /** Goal for `push` in the plain long job. */
  pushGoal?: Goal;
  /** Compare to push as a ratio. */
  ratio?: boolean;
}

const ROWS: Row[] = [
  { figure: 'job ended DoneSuccess', unit: '', value: (r) => (r.succeeded ? 1 : 0), pushGoal: { op: '=', limit: 1 } },
  { figure: 'objects stored byte for byte', unit: `of ${FILES}`, value: (r) => r.objectsStored, pushGoal: { op: '=', limit: FILES } },
  { figure: 'wall time', unit: 's', value: (r) => r.wallSeconds, ratio: true },
  { figure: 'bytes uploaded ÷ data size', unit: '×', value: (r) => r.uploadedRatio, ratio: true },
  { figure: 'bytes re-sent', unit: 'kB', value: (r) => r.resentBytes / 1000, pushGoal: { op: '=', limit: 0 }, ratio: true },
  { figure: 'objects re-sent', unit: '', value: (r) => r.objectsResent, ratio: true },
  { figure: 'job runs', unit: '', value: (r) => r.jobRuns, ratio: true },
  { figure: 'rclone restarts', unit: '', value: (r) => r.rcloneRestarts, pushGoal: { op: '=', limit: 0 }, ratio: true },
  { figure: '401s at the stand-in', unit: '', value: (r) => r.unauthorized, pushGoal: { op: '=', limit: 0 }, ratio: true },
  { figure: 'token requests by rclone', unit: '', value: (r) => r.tokenRequestsByRclone, ratio: true },
  { figure: 'token requests by the worker', unit: '', value: (r) => r.tokenRequestsByWorker, ratio: true },
  { figure: 'longest upload stall', unit: 's', value: (r) => r.longestStallSeconds, ratio: true },
  { figure: 'hub ends with the current refresh token', unit: '', value: (r) => (r.hubHasCurrentRefreshToken ? 1 : 0), pushGoal: { op: '=', limit: 1 } },
];

export async function benchStrategies(options: { quick: boolean }): Promise<BenchResult> {
  const jobSeconds = options.quick ? 40 : 140;
  const scenarios: Scenario[] = [
    { name: 'long job', jobSeconds },
    { name: 're-auth mid-job', jobSeconds: options.quick ? 40 : 80, reauth: { atShare: 0.3, newGrantAfterMs: 10_000 } },
  ];
  const figures: Figure[] = [];
  const notes: string[] = [];
  for (const scenario of scenarios) {
    const runs = new Map<Strategy, RunResult>();
    for (const strategy of STRATEGIES) {
      process.stderr.write(`bench: strategies: ${scenario.name}, ${strategy} …\n`);
      const run = await runStrategy(strategy, scenario);
      runs.set(strategy, run);
      notes.push(describeRun(scenario, strategy, run));
    }
    figures.push(...scenarioFigures(scenario, runs));
  }
  const policy = RESTART_POLICY;
  return {
    id: 'strategies',
    title: 'token strategies side by side',
    method: [
      `Same local → GCS copy of ${FILES} files × ${FILE_BYTES / 1000} kB through the GCS stand-in's shared link (paced to ${jobSeconds} s for the long job), access tokens living ${TOKEN_LIFETIME_SECONDS} s, refresh tokens rotating on every refresh with old ones still valid (Microsoft's policy); re-auth variant: at 30 % of the data the grant is revoked with every token issued under it, 10 s later a new grant is saved at the hub.`,
      `push = this worker (node dist/worker/src/main.js, TOKEN_REFRESH_THRESHOLD_SECONDS=10); restart and rclone-refresh = the bench's baseline drivers (scripts/bench/baseline/) on a real rclone rcd: config file written by the driver, network refresh + hub save at every rclone start, restart of rclone with every running job reported DoneFailure and re-run on an auth error in job/status, ≥ ${policy.authErrorLines} auth errors in rclone's log, or ${policy.stallMs / 1000} s without progress on an expired token; polls every ${policy.pollMs / 1000} s; the .NET worker's 5-min timers, restart limits and bugs left out (they favour the baseline).`,
      `Counters: bytes re-sent = upload body bytes read by the stand-in minus the body of the upload that stored each object (401-refused bodies are not read); stall = longest gap between two upload body chunks; token requests split by User-Agent (rclone/…); hub's refresh token checked against its grant's latest generation. Wall time = job created → terminal state at the hub (cap: 3 × the paced time + 60 s).`,
      ...notes,
    ].join(' '),
    figures,
  };
}

function scenarioFigures(scenario: Scenario, runs: Map<Strategy, RunResult>): Figure[] {
  const figures: Figure[] = [];
  const push = runs.get('push');
  for (const row of ROWS) {
    for (const [strategy, run] of runs) {
      const value = row.value(run);
      const goal = strategy === 'push' && !scenario.reauth ? row.pushGoal : undefined;
      figures.push({
        name: `${scenario.name}, ${strategy}: ${row.figure}`,
        value,
        unit: row.unit,
        ...(goal ? { goal } : {}),
        labels: { scenario: scenario.name, strategy, figure: row.figure },
      });
      const base = push ? row.value(push) : 0;
      if (row.ratio && strategy !== 'push' && base > 0) {
        figures.push({
          name: `${scenario.name}, ${strategy} ÷ push: ${row.figure}`,
          value: value / base,
          unit: '×',
          labels: { scenario: scenario.name, strategy, figure: row.figure, ratio: 'push' },
        });
      }
    }
  }
  return figures;
}

function describeRun(scenario: Scenario, strategy: Strategy, run: RunResult): string {
  const parts = [`${scenario.name}, ${strategy}: ended ${run.outcome} after ${run.wallSeconds.toFixed(1)} s`];
  if (run.reauthAt) parts.push(`grant revoked at ${run.reauthAt.revokedS.toFixed(1)} s, new grant saved at ${run.reauthAt.savedS.toFixed(1)} s`);
  parts.push(`hub's refresh token generation ${run.hubGeneration} of ${run.latestGeneration}`);
  if (run.restartReasons.length > 0) parts.push(`restarts: ${summarise(run.restartReasons)}`);
  parts.push(`re-sent ${percentText(run.resentBytes / (FILES * FILE_BYTES))} of the data`);
  return `${parts.join('; ')}.`;
}

/** "3 × job 1 failed on auth: …" for repeated reasons. */
function summarise(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const reason of reasons) {
    const key = reason
      .replace(/\d+ (s|auth errors) /, 'N $1 ')
      .replace(/job \d+/, 'the job')
      .replace(/(Post|Get|Put) "[^"]*": /, '')
      .replace(/ - manually refresh.*$/, '')
      .slice(0, 120);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([reason, n]) => `${n} × ${reason}`).join(', ');
}
