/**
 * One broken storage never delays the others (issue 9.7, side-by-side.md T3), end to end: the
 * worker starts with a healthy GCS storage and a Google Drive storage whose expired token can
 * only be refreshed at a token endpoint that accepts the request and never answers. The start
 * must not wait for it: the healthy storage's job runs and finishes while the broken storage's
 * first token request is still unanswered. Then the broken endpoint fails fast, then recovers:
 * the worker keeps refreshing in the background, with no job asking, and hands the token to rclone.
 *
 * No timing is asserted (the figures are printed): the proof is the order of events.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { closeServer, listen } from '../../../scripts/standins/http-util.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { loggedAt, sameObjects } from './tokens-support.js';

const startSandbox = sandboxPerTest();

type Mode = 'hold' | 'fail' | 'forward';

/** A token endpoint in front of the stand-in's that holds, fails (503) or forwards, switchable. */
async function faultyTokenEndpoint(target: string): Promise<{
  url: string;
  log: { at: number; status: number }[];
  held: () => number;
  setMode: (mode: Mode) => void;
  close: () => Promise<void>;
}> {
  let mode: Mode = 'hold';
  const log: { at: number; status: number }[] = [];
  const held = new Set<() => void>();
  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer, entry: { status: number }) => {
    if (mode === 'fail') {
      entry.status = 503;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
      return;
    }
    const upstream = new URL(target);
    const forward = request({ host: upstream.hostname, port: upstream.port, method: 'POST', path: upstream.pathname, headers: req.headers }, (r) => {
      entry.status = r.statusCode ?? 0;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    forward.end(body);
  };
  const { server, url } = await listen(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const entry = { at: Date.now(), status: 0 };
    log.push(entry);
    if (mode !== 'hold') {
      answer(req, res, Buffer.concat(chunks), entry);
      return;
    }
    const release = () => {
      held.delete(release);
      answer(req, res, Buffer.concat(chunks), entry);
    };
    held.add(release);
    res.once('close', () => held.delete(release));
  });
  return {
    url: `${url}/token`,
    log,
    held: () => held.size,
    setMode: (next) => {
      mode = next;
      if (next !== 'hold') for (const release of [...held]) release();
    },
    close: () => closeServer(server),
  };
}

describe('a storage whose token endpoint is down at start', () => {
  it('does not hold up the start or a job on another storage, and recovers in the background without a job', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox();
    const broken = await faultyTokenEndpoint(sandbox.gcs.tokenUrl);
    try {
      const laptop = sandbox.addLocalStorage('laptop');
      const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
      const grant = sandbox.gcs.issueGrant();
      sandbox.hub.addStorage({
        technology: 'googledrive',
        uriSchema: 'gdrive',
        clientId: 'gcs-standin-client',
        clientSecret: 'gcs-standin-secret',
        accessToken: grant.accessToken,
        refreshToken: grant.refreshToken,
        expiresAt: new Date(Date.now() - 60_000).toISOString(),
      });
      const source = join(sandbox.dir, 'notes');
      const files = await makeTree(source, 5, 10_000);
      const rule = sandbox.addRule('notes to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/notes' });

      const spawnedAt = Date.now();
      const worker = sandbox.spawnWorker('a', { GOOGLEDRIVE_TOKEN_URL: broken.url, TOKEN_REQUEST_TIMEOUT_SECONDS: '60' });
      const running = await worker.waitForLog((r) => r.component === 'machine' && r.to === 'Running');
      const job = sandbox.hub.createJob(rule.id);
      const reports = await waitForTerminalReport(sandbox, job.id, 60_000);
      const doneAt = Date.now();

      // The healthy storage's job is done while the broken storage's first request still hangs.
      expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
      expect(sameObjects(sandbox.gcs, 'backups', 'notes', files)).toBe(files.size);
      expect(broken.log).toHaveLength(1);
      expect(broken.held()).toBe(1);
      expect(worker.find((r) => r.msg === 'token refresh failed' && r.storage === 'gdrive')).toEqual([]);
      expect(loggedAt(running)).toBeLessThan(doneAt);
      const notReady = logsOf(worker, 'storage not ready at start; its remote gets the token it has while the refresh goes on in the background');
      expect(notReady.map((r) => r.storage)).toEqual(['gdrive']);
      expect(logsOf(worker, 'storages prepared as rclone remotes')[0]).toMatchObject({ remotes: expect.arrayContaining(['laptop', 'gcs', 'gdrive']) as unknown });

      // The endpoint now fails fast: the pending request gets a 503, and the worker retries in
      // the background — no job uses gdrive — until the endpoint answers again.
      broken.setMode('fail');
      await expect.poll(() => broken.log.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      broken.setMode('forward');
      const refreshed = await worker.waitForLog((r) => r.msg === 'token refreshed' && r.storage === 'gdrive', 90_000);
      expect(String(refreshed.reason)).toMatch(/^background retry \d+$/);
      const pushed = await worker.waitForLog((r) => r.msg === 'token pushed to rclone' && r.storage === 'gdrive');
      expect(pushed.tokenFp).toBe(refreshed.tokenFp);
      expect(broken.log.map((e) => e.status)).toEqual([...broken.log.slice(0, -1).map(() => 503), 200]);
      // Each retry waited for the one before (no storm): 1 s, 2 s, … with full jitter, floor 0.5 s.
      const gaps = broken.log.slice(1).map((e, i) => e.at - (broken.log[i]?.at ?? 0));
      expect(gaps.slice(1).every((g) => g >= 500)).toBe(true);

      console.log(
        '[broken storage at start]',
        JSON.stringify({ spawnToRunningMs: loggedAt(running) - spawnedAt, spawnToJobDoneMs: doneAt - spawnedAt, brokenRequestsUntilRecovery: broken.log.length, backgroundRetryGapsMs: gaps }),
      );
      expect(await worker.stop()).toBe(0);
      expectNoSecretsLeaked(sandbox, [worker]);
    } finally {
      broken.setMode('fail');
      await broken.close();
    }
  });
});
