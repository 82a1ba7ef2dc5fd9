/**
 * What Dropbox upload batching is worth with rclone 1.60.1: the real rclone copies 500 small
 * files to the Dropbox stand-in through the TLS proxy, once with `batch_mode=sync` (rclone's
 * default: start + data append + closing append per file, one `finish_batch_v2` per batch)
 * and once with `batch_mode=off` (one `files/upload` per file), under two models of Dropbox:
 *
 * - round trip only: every request waits `LATENCY_MS` before it is handled;
 * - round trip plus the namespace write lock: each commit (one file, or one whole batch) holds
 *   the lock `COMMIT_HOLD_MS`; a commit that finds it taken queues (the gentle version) or is
 *   refused with 429 `too_many_write_operations`, Retry-After 1 s (what Dropbox answers).
 *
 * Run alone: `node dist/scripts/bench/dropbox-batching.js` (after `npm run build`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { makeTree } from '../sandbox.js';
import type { Contention } from '../standins/dropbox/commit-gate.js';
import { DropboxStandin } from '../standins/dropbox/server.js';
import { TlsProxy } from '../standins/tls-proxy/proxy.js';
import type { BenchResult, Figure } from './report.js';

const FILES = 500;
const FILE_BYTES = 4096;
const LATENCY_MS = 50;
const COMMIT_HOLD_MS = 100;

interface Run {
  seconds: number;
  requests: number;
  commits: number;
  rateLimited: number;
}

export async function benchDropboxBatching(): Promise<BenchResult> {
  const figures: Figure[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'dropbox-batching-'));
  try {
    const source = join(dir, 'src');
    await makeTree(source, FILES, FILE_BYTES, 10);
    for (const [model, hold, contention] of [
      ['round trip only', 0, 'queue'],
      [`+ ${COMMIT_HOLD_MS} ms write lock, queued`, COMMIT_HOLD_MS, 'queue'],
      [`+ ${COMMIT_HOLD_MS} ms write lock, 429 when taken`, COMMIT_HOLD_MS, 'reject'],
    ] as const) {
      for (const mode of ['sync', 'off'] as const) {
        const run = await copyOnce(dir, source, mode, hold, contention);
        figures.push(
          { name: `${model}, batch_mode=${mode}: files per second`, value: FILES / run.seconds, unit: 'files/s' },
          { name: `${model}, batch_mode=${mode}: requests (commits, 429s)`, value: run.requests, unit: `(${run.commits} commits, ${run.rateLimited} × 429)` },
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    id: 'dropbox-batching',
    title: 'Dropbox upload batching (rclone 1.60.1)',
    method: `rclone copy of ${FILES} files of ${FILE_BYTES} B to the Dropbox stand-in through the TLS proxy, --transfers 4 (default), ${LATENCY_MS} ms per request; wall time of the copy`,
    figures,
  };
}

async function copyOnce(dir: string, source: string, mode: 'sync' | 'off', commitHoldMs: number, commitContention: Contention): Promise<Run> {
  const standin = await DropboxStandin.start({
    requestLatencyMs: LATENCY_MS,
    commitHoldMs,
    commitContention,
  });
  const proxy = await TlsProxy.start({ routes: standin.hosts });
  try {
    const config = join(dir, `rclone-${mode}.conf`);
    const grant = standin.issueGrant();
    const token = JSON.stringify({ access_token: grant.accessToken, token_type: 'Bearer', expiry: grant.expiresAt.toISOString() });
    await writeFile(config, `[db]\ntype = dropbox\nbatch_mode = ${mode}\ntoken_url = ${standin.tokenUrl}\ntoken = ${token}\n`, { mode: 0o600 });
    const env = { ...withoutRcloneVariables(process.env), ...proxy.env() };
    const began = performance.now();
    await execa('rclone', ['--config', config, 'copy', source, `db:bench-${mode}`], { env, extendEnv: false });
    const seconds = (performance.now() - began) / 1000;
    const committed = [...standin.stats.files.values()].filter((f) => f.commits === 1).length;
    if (committed !== FILES) throw new Error(`batch_mode=${mode}: ${committed} of ${FILES} files committed once`);
    const commits = (standin.stats.requestsByRoute.get('files/upload') ?? 0) + standin.stats.batchSizes.length;
    return { seconds, requests: standin.stats.requests, commits, rateLimited: standin.stats.rateLimited };
  } finally {
    await proxy.close();
    await standin.close();
  }
}

function withoutRcloneVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('RCLONE_')));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await benchDropboxBatching();
  for (const figure of result.figures) process.stdout.write(`${figure.name}: ${Number.isInteger(figure.value) ? figure.value : figure.value.toFixed(1)} ${figure.unit}\n`);
}
