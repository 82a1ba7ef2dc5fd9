/**
 * `npm start`.
 *
 * - With `HANNIBAL_URL` set: runs the worker alone against that hub, as in production.
 * - Without it: the embedded default. Starts the stand-ins (hub with REST + SignalR, a GCS-API
 *   storage whose OAuth tokens live 20 s, a Nextcloud-like WebDAV server), seeds storages and
 *   rules, and runs the worker against them, so a newcomer sees jobs acquired, copied across
 *   several token rotations, verified and reported.
 *
 * `DEMO_SECONDS=<n>` ends the demo after n seconds (default: run until Ctrl-C).
 * `DEMO_DIR=<dir>` holds the demo's files and worker state (default `.state/demo` in the repo).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RuleOperation, jobStateName } from '../shared/hannibal.js';
import { Sandbox, WORKER_MAIN, makeTree, REPO_ROOT } from './sandbox.js';

const TOKEN_LIFETIME_SECONDS = 20;

async function runAgainstHub(): Promise<number> {
  const child = spawn(process.execPath, [WORKER_MAIN], { stdio: 'inherit', env: process.env });
  const forward = (signal: NodeJS.Signals) => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      resolve(code ?? 1);
    });
  });
}

function say(message: string): void {
  process.stdout.write(`\x1b[36m[demo]\x1b[0m ${message}\n`);
}

async function runDemo(): Promise<number> {
  const sandbox = await Sandbox.start({
    dir: process.env.DEMO_DIR ?? join(REPO_ROOT, '.state', 'demo'),
    hub: { rescheduleAfterMs: 45_000 },
    // ~40 s per GCS job: long enough to see the access token rotate twice mid-job.
    gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, bytesPerSecond: 150_000 },
    webdav: {},
  });
  say(`hub (REST + SignalR) ${sandbox.hub.url}, GCS storage ${sandbox.gcs.url} (tokens live ${TOKEN_LIFETIME_SECONDS} s), WebDAV ${sandbox.webdav.url}`);

  const source = join(sandbox.dir, 'photos');
  const files = await makeTree(source, 120, () => 20_000 + Math.floor(Math.random() * 80_000));
  const total = [...files.values()].reduce((sum, b) => sum + b.length, 0);
  say(`seeded ${files.size} files (${(total / 1e6).toFixed(1)} MB) in ${source}`);

  const local = sandbox.addLocalStorage('laptop');
  const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'backups' });
  const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'alice', 'alice-demo-password');
  const rules = [
    sandbox.addRule('photos → GCS', { storage: local, path: source }, { storage: gcs, path: 'backups/photos' }),
    sandbox.addRule('photos → Nextcloud', { storage: local, path: source }, { storage: nextcloud, path: 'photos' }),
    sandbox.addRule('photos → local mirror', { storage: local, path: source }, { storage: local, path: join(sandbox.dir, 'mirror') }, RuleOperation.Sync),
  ];

  const worker = sandbox.spawnWorker(
    'laptop',
    { LOG_FORMAT: 'pretty', TOKEN_REFRESH_THRESHOLD_SECONDS: '10', WORKER_HEARTBEAT_SECONDS: '10' },
    { echo: true },
  );
  const state = { stopping: false };
  const finish = async (code: number) => {
    if (state.stopping) return;
    state.stopping = true;
    say('stopping the worker (SIGTERM: jobs handed back, rclone stopped) and the stand-ins');
    await sandbox.close();
    const stats = sandbox.gcs.stats;
    say(
      `GCS stand-in: ${stats.tokenSuccesses} token refreshes by the worker, ${stats.tokenRequestsByRclone} by rclone, ` +
        `${stats.unauthorized} requests rejected with 401, ${stats.requestsByAccessToken.size} distinct access tokens used`,
    );
    process.exit(code);
  };
  process.on('SIGINT', () => void finish(0));
  process.on('SIGTERM', () => void finish(0));

  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (const rule of rules) sandbox.hub.createJob(rule.id);
  say(`created ${rules.length} jobs; the hub announces them with NewJobAvailable`);

  let seen = 0;
  const watcher = setInterval(() => {
    for (const report of sandbox.hub.reports.slice(seen)) {
      seen += 1;
      if (report.state === 2) continue;
      const job = sandbox.hub.job(report.jobId);
      say(`hub got report: job ${report.jobId} (${job?.tag ?? '?'}) → ${jobStateName(report.state)}${report.reason ? ` (${report.reason})` : ''}`);
      if (report.state === 4 && job?.tag === 'photos → GCS') verifyGcs(sandbox, files);
    }
  }, 500);
  watcher.unref();

  const seconds = Number(process.env.DEMO_SECONDS ?? '0');
  if (seconds > 0) setTimeout(() => void finish(0), seconds * 1000).unref();
  const code = await worker.exited;
  if (!state.stopping) {
    say(`worker exited with code ${String(code)}`);
    await finish(code ?? 1);
  }
  return 0;
}

function verifyGcs(sandbox: Sandbox, files: Map<string, Buffer>): void {
  let same = 0;
  for (const [rel, bytes] of files) {
    if (sandbox.gcs.object('backups', `photos/${rel}`)?.equals(bytes)) same += 1;
  }
  const stats = sandbox.gcs.stats;
  say(
    `verified GCS copy: ${same}/${files.size} files byte for byte; token refreshes by worker ${stats.tokenSuccesses}, ` +
      `by rclone ${stats.tokenRequestsByRclone}; 401 answers ${stats.unauthorized}; access tokens used ${stats.requestsByAccessToken.size}`,
  );
}

const main = process.env.HANNIBAL_URL ? runAgainstHub : runDemo;
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
