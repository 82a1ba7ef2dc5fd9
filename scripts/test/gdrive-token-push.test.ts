/**
 * The lab's Q3 run (rclone-providers-lab.md) as a test, with short tokens: an `rclone rcd`
 * copies through the proxy to the Drive stand-in while the test, playing the worker, pushes a
 * new access token with rc `config/update` every few seconds. rclone must adopt the newest
 * pushed token at its first request after the old token's expiry − 10 s — inside the open
 * resumable session of the big file — with no 401 and no call to the token URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RcJobStatus } from '../../shared/rclone-rc.js';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { rcloneToken } from './gcs-rclone-support.js';
import { DriveRig, SMALL_CHUNK_PARAMETERS, type IssuedToken, type Rcd } from './gdrive-rclone-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** rclone stops using a token this long before its expiry (oauthutil's expiry delta). */
const EXPIRY_DELTA_MS = 10_000;
const TOKEN_LIFETIME_SECONDS = 20;
const PUSH_EVERY_MS = 7_000;
/** The shared upload link: the whole copy (≈ 9 MiB) takes about 30 s, one 1 MiB chunk ≈ 3.5 s. */
const UPLOAD_BYTES_PER_SECOND = 300_000;

let rig: DriveRig | undefined;
let rcd: Rcd | undefined;

afterEach(async () => {
  await rcd?.stop();
  await rig?.close();
  rcd = undefined;
  rig = undefined;
});

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function finished(rc: Rcd['client'], jobid: number, timeoutMs: number): Promise<RcJobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await rc.jobStatus(jobid);
    if (status.finished) return status;
    if (Date.now() > deadline) throw new Error(`job ${jobid} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('token pushed to a running rclone (drive backend)', () => {
  it('is adopted at the old expiry − 10 s inside an open resumable session, with 0 × 401 and no token request', { timeout: 120_000 }, async () => {
    rig = await DriveRig.start({ uploadBytesPerSecond: UPLOAD_BYTES_PER_SECOND, tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS });
    const grant = rig.drive.issueGrant();
    const files = new Map<string, Buffer>([
      ['s0.bin', randomBytes(300 * KiB)],
      ['s1.bin', randomBytes(400 * KiB)],
      ['s2.bin', randomBytes(500 * KiB)],
      ['big.bin', randomBytes(8 * MiB)],
    ]);
    const source = join(rig.sandbox.dir, 'source');
    await mkdir(source);
    for (const [name, data] of files) await writeFile(join(source, name), data);

    /** Every token rclone was given, with when its push began and when rclone had it saved. */
    const pushed: { token: IssuedToken; startedAt: number; doneAt: number }[] = [{ token: grant, startedAt: 0, doneAt: 0 }];
    await rig.sandbox.writeRemotes({});
    rcd = await rig.startRcd();
    const rc = rcd.client;
    // As the worker creates it (`config_change_team_drive` answers the drive backend's Shared
    // Drive question, which rclone asks even non-interactively), with 1 MiB chunks so the big
    // file is one resumable session of eight chunks.
    const { type, ...parameters } = rig.remoteParameters(grant);
    await rc.configCreate('gd', type!, { ...parameters, ...SMALL_CHUNK_PARAMETERS, config_change_team_drive: 'false' }, { oauth: true });
    const began = Date.now();
    const jobid = await rc.startTransfer('copy', source, 'gd:backup', { group: 'push-test' });

    // The worker's part: refresh at the token endpoint, push the new access token.
    const pushes: Promise<void>[] = [];
    const pusher = setInterval(() => {
      pushes.push(
        (async () => {
          const token = await rig!.refresh(grant.refreshToken);
          const push = { token, startedAt: Date.now(), doneAt: Number.POSITIVE_INFINITY };
          pushed.push(push);
          await rc.configUpdate('gd', { token: JSON.stringify(rcloneToken(token.accessToken, token.expiresAt)), config_change_team_drive: 'false' }, { oauth: true });
          push.doneAt = Date.now();
        })(),
      );
    }, PUSH_EVERY_MS);
    let status: RcJobStatus;
    try {
      status = await finished(rc, jobid, 100_000);
    } finally {
      clearInterval(pusher);
    }
    const elapsedMs = Date.now() - began;
    await Promise.all(pushes);

    expect(status.error, rcd.log.slice(-30).join('\n')).toBe('');
    expect(status.success).toBe(true);
    const stored = rig.drive.files('backup');
    expect(new Map([...stored].map(([name, data]) => [name, md5(data)]))).toEqual(new Map([...files].map(([name, data]) => [name, md5(data)])));
    const { stats } = rig.drive;
    expect(stats.unauthorized).toBe(0);
    // Every token request was the worker's; rclone, holding no refresh token, made none.
    expect(rig.drive.oauth.stats).toMatchObject({ tokenRequests: pushes.length, tokenRequestsByRclone: 0, tokenSuccesses: pushes.length });
    for (const [name, data] of files) {
      expect(stats.uploadSessions.get(`backup/${name}`), name).toBe(1);
      expect(stats.bytesReceived.get(`backup/${name}`), name).toBe(data.length);
    }

    // The tokens rclone used, in the order it started using them.
    const used = pushed
      .map((push, index) => ({ index, token: push.token, use: rig!.drive.tokenUse(push.token.accessToken) }))
      .filter((entry) => entry.use !== undefined)
      .sort((a, b) => a.use!.firstAt - b.use!.firstAt);
    expect(used[0]!.index).toBe(0);
    expect(used.length).toBeGreaterThanOrEqual(3);
    const switches = used.slice(1).map((entry, i) => {
      const previous = used[i]!;
      return {
        // When rclone first sent the new token, relative to the old one's switch point.
        afterSwitchPointMs: entry.use!.firstAt - (previous.token.expiresAt.getTime() - EXPIRY_DELTA_MS),
        // The old token's last use, relative to its expiry (must be before it: no 401).
        oldLastUseBeforeExpiryMs: previous.token.expiresAt.getTime() - previous.use!.lastAt,
        // The token rclone took is the newest one pushed by then (a push still in flight may or may not count).
        newest:
          pushed[entry.index]!.startedAt <= entry.use!.firstAt &&
          pushed.findLastIndex((push) => push.doneAt <= entry.use!.firstAt) <= entry.index,
      };
    });
    for (const change of switches) {
      expect(change.afterSwitchPointMs).toBeGreaterThanOrEqual(0);
      expect(change.oldLastUseBeforeExpiryMs).toBeGreaterThan(0);
      expect(change.newest).toBe(true);
    }

    // The big file's one resumable session saw several tokens.
    const bigChunks = stats.requestLog.filter((record) => record.call === 'upload.resumableChunk');
    expect(new Set(bigChunks.map((record) => record.uploadId)).size).toBe(1);
    expect(new Set(bigChunks.map((record) => record.accessTokenFingerprint)).size).toBeGreaterThanOrEqual(2);
    expect(new Set(stats.requestLog.map((record) => record.accessTokenFingerprint))).toEqual(new Set(used.map((entry) => fingerprint(entry.token.accessToken))));

    console.info(
      `drive token push: ${elapsedMs} ms, ${pushed.length - 1} tokens pushed, ${used.length} of ${pushed.length} used, ` +
        `switches at old expiry − 10 s + ${switches.map((change) => (change.afterSwitchPointMs / 1000).toFixed(1)).join(' / ')} s, ` +
        `${bigChunks.length} chunks, ${stats.apiRequests} requests, ${stats.unauthorized} × 401`,
    );
  });
});
