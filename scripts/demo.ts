/**
 * The embedded demo that `npm start` runs when `HANNIBAL_URL` is not set: starts the stand-ins
 * (hub with REST + SignalR, a GCS-API storage whose OAuth tokens live 20 s, a Nextcloud-like
 * WebDAV server, and a OneDrive (Microsoft Graph) stand-in that the worker's rclone reaches at
 * graph.microsoft.com through the TLS-terminating proxy, its tokens also living 20 s and its
 * refresh token rotating on every refresh), seeds storages and rules, and runs the worker
 * against them, so a newcomer sees jobs acquired, copied across several token rotations,
 * verified and reported.
 *
 * SIGINT or SIGTERM stops the worker (it drains: running jobs handed back to the hub, rclone
 * quit), then the stand-ins, and prints what the hub received.
 * `DEMO_SECONDS=<n>` ends the demo after n seconds (default: run until Ctrl-C).
 * `DEMO_DIR=<dir>` holds the demo's files and worker state (default `.state/demo` in the repo).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { JobState, jobStateName } from '../shared/hannibal.js';
import { DEMO_TOKEN_LIFETIME_SECONDS, demoSandboxOptions, seedDemo, verifiedInGcs, verifiedInOnedrive, type DemoWorld } from './demo-seed.js';
import { Sandbox, REPO_ROOT } from './sandbox.js';

function say(message: string): void {
  const tag = process.stdout.isTTY ? '\x1b[36m[demo]\x1b[0m' : '[demo]';
  process.stdout.write(`${tag} ${message}\n`);
}

async function runDemo(): Promise<number> {
  // Each demo starts from nothing: no worker state (owner id, pending reports) from an earlier run.
  const dir = process.env.DEMO_DIR ?? join(REPO_ROOT, '.state', 'demo');
  await rm(dir, { recursive: true, force: true });
  const sandbox = await Sandbox.start(demoSandboxOptions(dir, {}, { onedrive: true }));
  say(`hub (REST + SignalR) ${sandbox.hub.url}, GCS storage ${sandbox.gcs.url} (tokens live ${DEMO_TOKEN_LIFETIME_SECONDS} s), WebDAV ${sandbox.webdav.url}`);
  say(`OneDrive stand-in ${sandbox.onedrive?.url ?? '?'} behind the TLS proxy ${sandbox.proxy?.url ?? '?'} (graph.microsoft.com, test CA; tokens live ${DEMO_TOKEN_LIFETIME_SECONDS} s, refresh token rotating)`);

  const world = await seedDemo(sandbox);
  const { source, files, rules } = world;
  const total = [...files.values()].reduce((sum, b) => sum + b.length, 0);
  say(`seeded ${files.size} files (${(total / 1e6).toFixed(1)} MB) in ${source}, 4 storages (local, GCS, OneDrive, Nextcloud) and ${rules.length} rules`);

  const worker = sandbox.spawnWorker(
    'laptop',
    { LOG_FORMAT: 'pretty', TOKEN_REFRESH_THRESHOLD_SECONDS: '10', WORKER_HEARTBEAT_SECONDS: '10' },
    { echo: true },
  );
  let seen = 0;
  const sayNewReports = () => {
    for (const report of sandbox.hub.reports.slice(seen)) {
      seen += 1;
      if (report.state === 2) continue;
      const job = sandbox.hub.job(report.jobId);
      say(`hub got report: job ${report.jobId} (${job?.tag ?? '?'}) → ${jobStateName(report.state)}${report.reason ? ` (${report.reason})` : ''}`);
      if (report.state === JobState.DoneSuccess && job?.fromRuleId === world.gcsRule.id) verifyGcs(sandbox, files);
      if (report.state === JobState.DoneSuccess && job?.fromRuleId === world.onedrive?.rule.id) verifyOnedrive(sandbox, world, report.jobId);
    }
  };
  const state = { stopping: false };
  const finish = async (code: number) => {
    if (state.stopping) return;
    state.stopping = true;
    say('stopping the worker (SIGTERM: jobs handed back, rclone stopped) and the stand-ins');
    await sandbox.close();
    sayNewReports();
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

  setInterval(sayNewReports, 500).unref();

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
  const stats = sandbox.gcs.stats;
  say(
    `verified GCS copy: ${verifiedInGcs(sandbox, files)}/${files.size} files byte for byte; token refreshes by worker ${stats.tokenSuccesses}, ` +
      `by rclone ${stats.tokenRequestsByRclone}; 401 answers ${stats.unauthorized}; access tokens used ${stats.requestsByAccessToken.size}`,
  );
}

/**
 * The OneDrive copy checked, and its token story told: the worker's refreshes while the job ran
 * (each one rotated the refresh token, and the hub must hold the newest), rclone's own (none).
 */
function verifyOnedrive(sandbox: Sandbox, world: DemoWorld, jobId: number): void {
  const onedrive = sandbox.onedrive;
  if (!onedrive || !world.onedrive) return;
  const reports = sandbox.hub.reports.filter((r) => r.jobId === jobId);
  const [from, to] = [reports[0]?.at ?? 0, reports.at(-1)?.at ?? Date.now()];
  const rotations = onedrive.oauth.tokenLog.filter((e) => e.userAgent === 'rclone-sync-worker' && e.status === 200 && e.issuedGeneration !== undefined && e.at > from && e.at < to);
  const held = onedrive.oauth.refreshTokenInfo(sandbox.hub.getStorage(world.onedrive.storageId)?.refreshToken ?? '');
  const stats = onedrive.stats;
  say(
    `verified OneDrive copy: ${verifiedInOnedrive(sandbox, world.files)}/${world.files.size} files byte for byte; ` +
      `${rotations.length} token rotations by the worker during the job (hub holds refresh token generation ${held?.generation ?? '?'} of ${held?.latestGeneration ?? '?'}); ` +
      `by rclone ${stats.tokenRequestsByRclone}; 401 answers ${stats.unauthorized}; ${sandbox.proxy?.stats.tunnels ?? 0} TLS tunnels through the proxy`,
  );
}

runDemo().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
