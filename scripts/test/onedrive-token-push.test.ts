/**
 * The lab's Q3 run (research/rclone-providers-lab.md) against the OneDrive stand-in: a real
 * `rclone rcd` copies a throttled tree to OneDrive through the TLS proxy with 25-second access
 * tokens and no refresh token, while new tokens (refreshed at Microsoft's endpoint as the worker
 * would) are pushed every 8 s with rc `config/update`. rclone must adopt a pushed token at its
 * old token's expiry − 10 s, inside open upload sessions, with no 401 and no token call of its
 * own; the job succeeds and `rclone check` agrees.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RcJobStatus } from '../../shared/rclone-rc.js';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { freeLoopbackPort } from '../../worker/src/rclone/free-port.js';
import { RcClient } from '../../worker/src/rclone/rc-client.js';
import { DEFAULT_ONEDRIVE_CLIENT } from '../standins/onedrive/server.js';
import { RCLONE, RcloneSandbox, writeTree } from './gcs-rclone-support.js';
import { startOnedriveRig, workerOnedriveParameters, type OnedriveRig } from './onedrive-rclone-support.js';

const TOKEN_LIFETIME_S = 25;
const PUSH_EVERY_MS = 8_000;
/** rclone stops using a token this long before its expiry (oauthutil's expiryDelta). */
const EXPIRY_DELTA_MS = 10_000;
const BYTES_PER_SECOND = 400_000;
const MiB = 1024 * 1024;

let rig: OnedriveRig;
let sandbox: RcloneSandbox;
let rcd: ChildProcess | undefined;

beforeEach(async () => {
  rig = await startOnedriveRig({ tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: BYTES_PER_SECOND });
  sandbox = await RcloneSandbox.create();
});

afterEach(async () => {
  if (rcd && rcd.exitCode === null && rcd.signalCode === null) {
    const exited = once(rcd, 'exit');
    rcd.kill('SIGKILL');
    await exited;
  }
  rcd = undefined;
  await rig.close();
  await sandbox.cleanup();
});

/** Starts `rclone rcd` on a free port with the proxy's environment; rc credentials via the environment. */
async function startRcd(): Promise<RcClient> {
  const port = await freeLoopbackPort();
  const password = randomBytes(12).toString('hex');
  rcd = spawn(RCLONE, ['rcd', '--rc-addr', `127.0.0.1:${port}`, '--config', sandbox.configPath, '-v'], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: sandbox.dir, RCLONE_RC_USER: 'rc', RCLONE_RC_PASS: password, ...rig.env },
  });
  const rc = new RcClient({ baseUrl: `http://127.0.0.1:${port}`, user: 'rc', password, timeoutMs: 10_000 });
  await expect.poll(() => rc.noop().then(() => true, () => false), { timeout: 15_000, interval: 100 }).toBe(true);
  return rc;
}

/** A refresh at Microsoft's token endpoint, as the worker makes it; returns the new access token and refresh token. */
async function refresh(refreshToken: string): Promise<{ accessToken: string; refreshToken: string; expiresAt: Date }> {
  const response = await fetch(rig.standin.tokenUrl, {
    method: 'POST',
    headers: { 'user-agent': 'rclone-sync-worker' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: DEFAULT_ONEDRIVE_CLIENT.clientId,
      client_secret: DEFAULT_ONEDRIVE_CLIENT.clientSecret,
    }),
  });
  const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
  expect(response.status).toBe(200);
  return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: new Date(Date.now() + body.expires_in * 1000) };
}

function tokenParameter(accessToken: string, expiresAt: Date): string {
  return JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expiry: expiresAt.toISOString() });
}

describe('a token pushed mid-job with rc config/update (lab Q3)', () => {
  it('is adopted at the old token’s expiry − 10 s, inside open upload sessions, with 0 × 401 and no token call by rclone', async () => {
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) files.set(`s${i}.bin`, randomBytes(randomInt(420_000, 808_000)));
    files.set('big.bin', randomBytes(16 * MiB));
    const source = join(sandbox.dir, 'source');
    await writeTree(source, files);
    await sandbox.writeRemotes({});
    const rc = await startRcd();

    const grant = rig.standin.oauth.issueGrant();
    const issued = [{ accessToken: grant.accessToken, expiresAt: grant.expiresAt }];
    const { type, ...parameters } = await workerOnedriveParameters(rig.standin, 'od', grant);
    const created = await rc.call('config/create', {
      name: 'od',
      type,
      parameters: { ...parameters, chunk_size: '1280k', config_refresh_token: 'false' },
      opt: { nonInteractive: true, noObscure: true },
    });
    // rclone 1.60.1 asks its drive-type question even non-interactively; the remote is saved anyway.
    expect(created).toMatchObject({ State: expect.stringMatching(/.+/) as unknown });

    const started = Date.now();
    const { jobid } = await rc.call<{ jobid: number }>('sync/copy', { srcFs: source, dstFs: 'od:backup', _async: true, _group: 'push' });
    let refreshToken = grant.refreshToken;
    let status: RcJobStatus | undefined;
    let nextPush = started + PUSH_EVERY_MS;
    const configAnswers: unknown[] = [];
    while (!(status = await rc.jobStatus(jobid)).finished) {
      if (Date.now() >= nextPush) {
        nextPush += PUSH_EVERY_MS;
        const next = await refresh(refreshToken);
        refreshToken = next.refreshToken;
        issued.push({ accessToken: next.accessToken, expiresAt: next.expiresAt });
        configAnswers.push(await rc.call('config/update', { name: 'od', parameters: { token: tokenParameter(next.accessToken, next.expiresAt), config_refresh_token: 'false' }, opt: { nonInteractive: true, noObscure: true } }));
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(Date.now() - started, 'job still running after 3 minutes').toBeLessThan(180_000);
    }
    const elapsedMs = Date.now() - started;

    expect(status).toMatchObject({ success: true, error: '' });
    expect(elapsedMs).toBeGreaterThan(2 * TOKEN_LIFETIME_S * 1000);
    const stats = rig.standin.stats;
    expect(stats.unauthorized).toBe(0);
    expect(stats.invalidTokenOnUploadUrl).toBe(0);
    expect(stats.tokenRequestsByRclone).toBe(0);
    expect(stats.tokenRequestsByUserAgent).toEqual(new Map([['rclone-sync-worker', issued.length - 1]]));
    expect(stats.uploadSessionsByPath.get('/backup/big.bin')).toBe(1);
    expect(rig.standin.resentBytes()).toBe(0);
    for (const [path, data] of files) expect(rig.standin.file(`/backup/${path}`)?.equals(data), path).toBe(true);

    // The tokens rclone used, in order, and when it switched: never before the old token's
    // expiry − 10 s, always before its expiry (so no request went out with an expired token).
    const used = issued
      .map((token) => ({ ...token, key: fingerprint(token.accessToken) }))
      .filter((token) => stats.accessTokenFirstSeen.has(token.key))
      .sort((a, b) => stats.accessTokenFirstSeen.get(a.key)! - stats.accessTokenFirstSeen.get(b.key)!);
    expect(used.length).toBeGreaterThanOrEqual(3);
    expect(used[0]!.accessToken).toBe(grant.accessToken);
    const switches = used.slice(1).map((token, i) => {
      const previous = used[i]!;
      const firstSeen = stats.accessTokenFirstSeen.get(token.key)!;
      return { leadMs: previous.expiresAt.getTime() - firstSeen, previousLastSeenBeforeExpiry: stats.accessTokenLastSeen.get(previous.key)! < previous.expiresAt.getTime() };
    });
    for (const change of switches) {
      expect(change.leadMs).toBeLessThanOrEqual(EXPIRY_DELTA_MS);
      expect(change.leadMs).toBeGreaterThan(0);
      expect(change.previousLastSeenBeforeExpiry).toBe(true);
    }
    // The big file's one upload session carried several tokens: the switch happened inside it.
    expect(stats.uploadTokensByPath.get('/backup/big.bin')?.size).toBeGreaterThanOrEqual(2);
    // Every push was answered with rclone's pending drive-type question, and taken all the same.
    expect(configAnswers).toEqual(Array<unknown>(issued.length - 1).fill(expect.objectContaining({ State: created.State }) as unknown));
    process.stdout.write(
      `onedrive token push: job ${elapsedMs} ms, ${issued.length} tokens issued, ${used.length} used, switch lead before expiry ${switches.map((s) => `${(s.leadMs / 1000).toFixed(1)} s`).join(', ')}, ` +
        `${stats.apiRequests} API requests, ${stats.unauthorized} × 401, ${stats.tokenRequestsByRclone} token calls by rclone\n`,
    );

    // A fresh token for the CLI check (the last pushed one may be close to its switch point).
    const last = await refresh(refreshToken);
    await rc.call('config/update', { name: 'od', parameters: { token: tokenParameter(last.accessToken, last.expiresAt), config_refresh_token: 'false' }, opt: { nonInteractive: true, noObscure: true } });
    const check = await sandbox.rclone(['check', source, 'od:backup'], rig.env);
    expect(check.stderr).toContain('0 differences found');
    expect(check.exitCode).toBe(0);
  }, 240_000);
});
