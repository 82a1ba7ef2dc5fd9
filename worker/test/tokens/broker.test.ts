import { describe, expect, it, vi } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import { ReauthRequiredError, TokenRefreshError } from '../../src/errors.js';
import { NO_TOKEN_RECORDER, type TokenRecorder } from '../../src/metrics/recorders.js';
import { switchPoint } from '../../src/tokens/schedule.js';
import {
  HOUR,
  ID,
  MINUTE,
  PROVIDERS,
  SECOND,
  T0,
  advance,
  brokerHooks,
  harness,
  invalidGrant,
  iso,
  issued,
  settle,
  storageRow,
  unavailable,
  unreachable,
  type Harness,
} from './broker-harness.js';

brokerHooks();

// ---- tests -------------------------------------------------------------------------------------

describe('TokenBroker single-flight', () => {
  it('sends exactly one token request for 100 concurrent callers of an expired token', async () => {
    const { broker, endpoint, sink } = harness(storageRow(-MINUTE));
    endpoint.latencyMs = 250;

    const all = Promise.all(Array.from({ length: 100 }, () => broker.ensureFresh(ID)));
    await advance(250);
    const tokens = await all;

    expect(endpoint.calls).toHaveLength(1);
    expect(new Set(tokens.map((t) => t.access_token))).toEqual(new Set(['EwB-at-1']));
    expect(tokens.every((t) => t.expiry === iso(T0 + HOUR))).toBe(true);
    expect(sink.pushes).toHaveLength(1);

    // A later caller finds the fresh token and sends nothing.
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-1' });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('does not start a job on a token that expires within the threshold, and keeps one that does not', async () => {
    const { broker, endpoint } = harness(storageRow(20 * MINUTE));

    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-0' });
    expect(endpoint.calls).toHaveLength(0);

    await advance(6 * MINUTE); // 14 min left, threshold 15 min
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-1' });
    expect(endpoint.calls).toHaveLength(1);
  });
});

describe('TokenBroker proactive refresh of a leased storage', () => {
  it('refreshes and pushes 20 s tokens 7 s after each issue, always before rclone switches tokens', async () => {
    const { broker, endpoint, sink } = harness(storageRow(20 * SECOND));
    endpoint.lifetimeS = 20;
    endpoint.latencyMs = 300;

    const release = broker.lease(ID);
    await advance(7 * 20 * SECOND + SECOND); // seven lifetimes, and the last answer in

    expect(endpoint.calls).toHaveLength(20);
    expect(sink.pushes).toHaveLength(endpoint.calls.length);

    // Token k was issued when request k was sent (token 0 by the hub at T0).
    const issuedAt = [T0, ...endpoint.calls.map((c) => c.at)];
    const expiresAt = issuedAt.map((t) => t + 20 * SECOND);
    endpoint.calls.forEach((call, i) => {
      expect(call.at - issuedAt[i]!, `request ${i + 1}`).toBe(7 * SECOND);
    });
    sink.pushes.forEach((push, i) => {
      const k = i + 1;
      expect(push.uriSchema).toBe('onedrive-7');
      expect(push.token).toEqual({ access_token: `EwB-at-${k}`, token_type: 'Bearer', expiry: iso(expiresAt[k]!) });
      expect(push.token).not.toHaveProperty('refresh_token');
      // In rclone before the token it replaces stops being used, with the refresh latency to spare.
      expect(switchPoint(expiresAt[k - 1]!) - push.at, `push ${k}`).toBeGreaterThanOrEqual(2 * SECOND);
    });

    // Released: no more requests.
    release();
    const count = endpoint.calls.length;
    await advance(2 * MINUTE);
    expect(endpoint.calls).toHaveLength(count);
  });

  it('lets a job that starts during a proactive refresh wait for it instead of sending a second request', async () => {
    const { broker, endpoint } = harness(storageRow(HOUR));
    endpoint.latencyMs = 2 * SECOND;
    broker.lease(ID);

    await advance(45 * MINUTE + SECOND); // the proactive request is out
    expect(endpoint.calls).toHaveLength(1);
    const fresh = broker.ensureFresh(ID); // 15 min − 1 s left: below the threshold
    await advance(SECOND);

    await expect(fresh).resolves.toMatchObject({ access_token: 'EwB-at-1' });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('stops refreshing only when the last of several leases is released', async () => {
    const { broker, endpoint } = harness(storageRow(HOUR));
    const releaseA = broker.lease(ID);
    const releaseB = broker.lease(ID);

    releaseA();
    releaseA(); // idempotent
    await advance(45 * MINUTE);
    expect(endpoint.calls).toHaveLength(1);

    releaseB();
    await advance(3 * HOUR);
    expect(endpoint.calls).toHaveLength(1);
  });
});

describe('TokenBroker transient failures', () => {
  it('waits out Retry-After, then backs off 2 s, 4 s, 8 s (random = 1)', async () => {
    const { broker, endpoint } = harness(storageRow(-MINUTE));
    endpoint.script.push(unavailable('3'), unavailable(), unavailable(), unavailable());

    const fresh = broker.ensureFresh(ID);
    await advance(MINUTE);

    await expect(fresh).resolves.toMatchObject({ access_token: 'EwB-at-5' });
    expect(endpoint.gaps()).toEqual([3 * SECOND, 2 * SECOND, 4 * SECOND, 8 * SECOND]);
  });

  it.each([
    { random: 0, gaps: [500, 500, 500] },
    { random: 0.5, gaps: [750, 1250, 2250] },
    { random: 1, gaps: [1000, 2000, 4000] },
  ])('backs off with full jitter within [0.5 s, 1 s / 2 s / 4 s] (random = $random)', async ({ random, gaps }) => {
    const { broker, endpoint } = harness(storageRow(-MINUTE), { random: () => random });
    endpoint.script.push(unavailable(), unavailable(), unavailable());

    const fresh = broker.ensureFresh(ID);
    await advance(MINUTE);

    await expect(fresh).resolves.toMatchObject({ access_token: 'EwB-at-4' });
    expect(endpoint.gaps()).toEqual(gaps);
    endpoint.gaps().forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(500);
      expect(gap).toBeLessThanOrEqual(1000 * 2 ** i);
    });
  });

  it('keeps handing out the still-valid token and sends nothing before Retry-After has passed', async () => {
    const { broker, endpoint, sink } = harness(storageRow(HOUR), { refreshThresholdMs: 20 * MINUTE });
    endpoint.script.push(unavailable('3'), unavailable());
    broker.lease(ID);

    await advance(45 * MINUTE);
    expect(endpoint.calls).toHaveLength(1); // the proactive refresh failed with 503, Retry-After 3

    // Jobs starting meanwhile want a token valid for 20 min; the current one has 15 min left.
    for (const step of [500, 1000, 1000, 499]) {
      await advance(step);
      await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-0' });
    }
    expect(endpoint.calls).toHaveLength(1);

    await advance(1);
    expect(endpoint.calls).toHaveLength(2);
    expect(endpoint.gaps()).toEqual([3 * SECOND]);

    // Second failure: full jitter for the 2nd try (random = 1 → 2 s).
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-0' });
    await advance(2 * SECOND);
    expect(endpoint.calls).toHaveLength(3);
    expect(endpoint.gaps()).toEqual([3 * SECOND, 2 * SECOND]);
    expect(sink.last()?.access_token).toBe('EwB-at-3');
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-3' });
    expect(endpoint.calls).toHaveLength(3);
  });

  it('never opens the breaker on network failures, however long they last', async () => {
    const { broker, endpoint, listener, sink } = harness(storageRow(20 * MINUTE));
    endpoint.fallback = unreachable;
    broker.lease(ID);

    await advance(2 * HOUR);

    expect(endpoint.calls.length).toBeGreaterThan(10);
    expect(listener.reauthRequired).not.toHaveBeenCalled();
    expect(broker.reauthReason(ID)).toBeUndefined();
    expect(sink.pushes).toHaveLength(0);

    // A job start now fails transiently (no usable token), not with "re-authenticate".
    const failed = broker.ensureFresh(ID).catch((err: unknown) => err);
    await advance(2 * MINUTE);
    const err = await failed;
    expect(err).toBeInstanceOf(TokenRefreshError);
    expect(err).toMatchObject({ permanent: false, code: 'WORKER_ERR_TOKEN_TRANSIENT' });

    // The network comes back: the next proactive retry gets a token.
    endpoint.fallback = undefined;
    await advance(MINUTE);
    expect(sink.last()?.access_token).toBe(`EwB-at-${endpoint.calls.length}`);
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: `EwB-at-${endpoint.calls.length}` });
  });
});

describe('TokenBroker breaker', () => {
  it('opens on invalid_grant: no more requests, ReauthRequiredError, one notification; a new grant closes it', async () => {
    const { broker, endpoint, listener, sink, hub } = harness(storageRow(-MINUTE));
    endpoint.script.push(invalidGrant());
    const release = broker.lease(ID);
    await settle();

    expect(endpoint.calls).toHaveLength(1); // the lease found the token expired and refreshed at once
    expect(listener.reauthRequired).toHaveBeenCalledTimes(1);
    expect(listener.reauthRequired).toHaveBeenCalledWith(ID, expect.stringContaining('invalid_grant'));
    expect(broker.reauthReason(ID)).toContain('AADSTS70008');

    await expect(broker.ensureFresh(ID)).rejects.toBeInstanceOf(ReauthRequiredError);
    await expect(broker.ensureFresh(ID)).rejects.toMatchObject({ code: 'WORKER_ERR_REAUTH_REQUIRED', permanent: true, storageId: ID });
    await expect(broker.forceRefresh(ID, 'rclone: 401 unauthenticated')).rejects.toBeInstanceOf(ReauthRequiredError);
    await broker.sweep();
    await advance(3 * HOUR);
    expect(endpoint.calls).toHaveLength(1);
    expect(listener.reauthRequired).toHaveBeenCalledTimes(1);
    expect(sink.pushes).toHaveLength(0);
    expect(hub.saves).toHaveLength(0);

    // The user re-authenticates in the hub.
    const reauthenticated = storageRow(HOUR, { accessToken: 'EwB-at-reauth', refreshToken: 'M.C5-rt-reauth' });
    expect(broker.adopt(reauthenticated)).toBe('new-grant');
    expect(listener.reauthorized).toHaveBeenCalledTimes(1);
    expect(listener.reauthorized).toHaveBeenCalledWith(ID);
    expect(broker.reauthReason(ID)).toBeUndefined();
    await settle();
    expect(sink.last()).toEqual({ access_token: 'EwB-at-reauth', token_type: 'Bearer', expiry: iso(Date.now() + HOUR) });

    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-reauth' });
    expect(endpoint.calls).toHaveLength(1);

    // The lease is still held: the proactive timer resumes with the new grant.
    await advance(45 * MINUTE);
    expect(endpoint.calls).toHaveLength(2);
    expect(endpoint.calls[1]?.req.refreshToken).toBe('M.C5-rt-reauth');
    release();
  });

  it('rejects every waiting caller of the failing request and notifies once', async () => {
    const { broker, endpoint, listener } = harness(storageRow(-MINUTE));
    endpoint.script.push(invalidGrant());
    endpoint.latencyMs = 100;

    const results = Promise.allSettled(Array.from({ length: 20 }, () => broker.ensureFresh(ID)));
    await advance(100);
    const settled = await results;

    expect(endpoint.calls).toHaveLength(1);
    expect(listener.reauthRequired).toHaveBeenCalledTimes(1);
    for (const r of settled) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ permanent: true, oauthError: 'invalid_grant', httpStatus: 400 });
    }
  });

  it('ignores the invalid_grant of a request sent before the hub brought new credentials', async () => {
    const { broker, endpoint, listener } = harness(storageRow(-MINUTE));
    endpoint.script.push(invalidGrant());
    endpoint.latencyMs = 1000;

    const fresh = broker.ensureFresh(ID);
    await advance(500);
    expect(broker.adopt(storageRow(HOUR, { accessToken: 'EwB-at-reauth', refreshToken: 'M.C5-rt-reauth' }))).toBe('new-grant');
    await advance(500);

    await expect(fresh).resolves.toMatchObject({ access_token: 'EwB-at-reauth' });
    expect(listener.reauthRequired).not.toHaveBeenCalled();
    expect(broker.reauthReason(ID)).toBeUndefined();
    await expect(broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-reauth' });
  });

  it('opens when the storage has no refresh token, without asking the endpoint', async () => {
    const { broker, endpoint, listener } = harness(storageRow(-MINUTE, { refreshToken: null }));

    await expect(broker.ensureFresh(ID)).rejects.toMatchObject({ permanent: true });
    expect(endpoint.calls).toHaveLength(0);
    expect(listener.reauthRequired).toHaveBeenCalledTimes(1);
  });
});

describe('TokenBroker rotation and hub saves', () => {
  it('uses a rotated refresh token, keeps it when the answer has none, and saves the whole storage', async () => {
    const row = storageRow(-MINUTE);
    const { broker, endpoint, hub } = harness(row);
    endpoint.script.push(issued('EwB-at-1', 3600, 'M.C5-rt-1'), issued('EwB-at-2', 3600), issued('EwB-at-3', 3600));

    await broker.ensureFresh(ID);
    await settle();
    expect(endpoint.calls[0]?.req.refreshToken).toBe('M.C5-rt-0');
    // The hub still holds M.C5-rt-0, which we replaced ourselves: ours is saved over it.
    expect(hub.saves).toHaveLength(1);
    expect(hub.saves[0]).toEqual({ ...row, accessToken: 'EwB-at-1', refreshToken: 'M.C5-rt-1', expiresAt: iso(T0 + HOUR) });

    await advance(31 * SECOND);
    await broker.forceRefresh(ID, 'rclone: 401 unauthenticated');
    await settle();
    expect(endpoint.calls[1]?.req.refreshToken).toBe('M.C5-rt-1');
    expect(hub.saves[1]).toEqual({ ...row, accessToken: 'EwB-at-2', refreshToken: 'M.C5-rt-1', expiresAt: iso(T0 + 31 * SECOND + HOUR) });

    await advance(31 * SECOND);
    await broker.forceRefresh(ID, 'rclone: 401 unauthenticated');
    expect(endpoint.calls[2]?.req.refreshToken).toBe('M.C5-rt-1');
  });

  it("sends the storage's client credentials, else the worker's, to the technology's token URL", async () => {
    const { broker, endpoint } = harness(storageRow(-MINUTE, { clientId: 'row-client-id', clientSecret: 'row-client-secret' }));
    await broker.ensureFresh(ID);
    expect(endpoint.calls[0]?.req).toEqual({
      tokenUrl: PROVIDERS.onedrive.tokenUrl,
      refreshToken: 'M.C5-rt-0',
      clientId: 'row-client-id',
      clientSecret: 'row-client-secret',
      scope: 'offline_access Files.ReadWrite User.Read',
    });

    broker.adopt(storageRow(-MINUTE, { id: 8, technology: 'dropbox', uriSchema: 'dropbox-8', clientId: '', clientSecret: null }));
    await broker.ensureFresh(8);
    expect(endpoint.calls[1]?.req).toEqual({
      tokenUrl: PROVIDERS.dropbox.tokenUrl,
      refreshToken: 'M.C5-rt-0',
      clientId: 'worker-dropbox-app',
      clientSecret: 'worker-dropbox-secret',
      scope: undefined,
    });
  });

  it('adopts instead of overwriting when the hub holds a refresh token we never had', async () => {
    const row = storageRow(-MINUTE);
    const { broker, endpoint, hub, sink } = harness(row);
    // Someone re-authenticated in the hub; the event has not reached us yet.
    hub.rows.set(ID, { ...row, accessToken: 'EwB-at-hub', refreshToken: 'M.C5-rt-hub', expiresAt: iso(T0 + HOUR) });

    // Both the token we got and the hub's are valid; which one the caller sees is a race.
    const token = await broker.ensureFresh(ID);
    expect(['EwB-at-1', 'EwB-at-hub']).toContain(token.access_token);
    await settle();

    expect(endpoint.calls).toHaveLength(1);
    expect(hub.reads).toBe(1);
    expect(hub.saves).toHaveLength(0);
    expect(hub.rows.get(ID)?.refreshToken).toBe('M.C5-rt-hub');
    expect(broker.currentToken(ID)?.access_token).toBe('EwB-at-hub');
    expect(sink.last()?.access_token).toBe('EwB-at-hub');

    await advance(31 * SECOND);
    await broker.forceRefresh(ID, 'rclone: 401 unauthenticated');
    expect(endpoint.calls[1]?.req.refreshToken).toBe('M.C5-rt-hub');
  });

  it('sweeps idle storages whose token would expire before the next sweep, and leaves the others', async () => {
    // Threshold 15 min, sweep every hour: a token with 70 min left is due (it would be within
    // the threshold before the next sweep), one with 80 min left is not.
    const causes: string[] = [];
    const recorder = { ...NO_TOKEN_RECORDER, refreshed: (e: { cause: string }) => void causes.push(e.cause) };
    const { broker, endpoint } = harness(storageRow(70 * MINUTE), { sweepIntervalMs: HOUR, recorder });
    await broker.sweep();
    expect(endpoint.calls).toHaveLength(1);
    expect(causes).toEqual(['sweep']);
    await broker.sweep();
    expect(endpoint.calls).toHaveLength(1); // a fresh 1 h token is not refreshed again: it is younger than half its life

    const fresh = harness(storageRow(80 * MINUTE), { sweepIntervalMs: HOUR });
    await fresh.broker.sweep();
    expect(fresh.endpoint.calls).toHaveLength(0);
  });

  it('retries a failed save on the next sweep', async () => {
    const row = storageRow(HOUR);
    const { broker, hub } = harness(row);
    const save = vi.spyOn(hub, 'saveStorage').mockRejectedValueOnce(new Error('hub answered 502'));

    await broker.forceRefresh(ID, 'rclone: 401 unauthenticated');
    await settle();
    expect(save).toHaveBeenCalledTimes(1);
    expect(hub.rows.get(ID)?.accessToken).toBe('EwB-at-0');

    await broker.sweep();
    expect(save).toHaveBeenCalledTimes(2);
    expect(hub.rows.get(ID)?.accessToken).toBe('EwB-at-1');
  });
});

describe('TokenBroker adopt (hub reloads and the echo of our own saves)', () => {
  /** A storage whose token we refreshed with rotation (rt-0 → rt-1) and saved. */
  async function refreshedAndSaved(): Promise<Harness & { saved: Storage }> {
    const h = harness(storageRow(-MINUTE));
    h.endpoint.script.push(issued('EwB-at-1', 3600, 'M.C5-rt-1'));
    await h.broker.ensureFresh(ID);
    await settle();
    const saved = h.hub.rows.get(ID)!;
    expect(saved.refreshToken).toBe('M.C5-rt-1');
    return { ...h, saved };
  }

  it('calls the echo of our own save unchanged and changes nothing', async () => {
    const { broker, endpoint, sink, saved } = await refreshedAndSaved();
    expect(broker.adopt(structuredClone(saved))).toBe('unchanged');
    await settle();
    expect(broker.currentToken(ID)?.access_token).toBe('EwB-at-1');
    expect(endpoint.calls).toHaveLength(1);
    expect(sink.pushes).toHaveLength(1);
  });

  it('calls a row holding our superseded refresh token stale and keeps our token', async () => {
    const { broker, endpoint, sink, saved } = await refreshedAndSaved();
    const before = { ...saved, accessToken: 'EwB-at-0', refreshToken: 'M.C5-rt-0', expiresAt: iso(T0 - MINUTE) };
    expect(broker.adopt(before)).toBe('stale');
    await settle();
    expect(broker.currentToken(ID)?.access_token).toBe('EwB-at-1');
    expect(broker.reauthReason(ID)).toBeUndefined();
    expect(endpoint.calls).toHaveLength(1);
    expect(sink.pushes).toHaveLength(1);
  });

  it('takes a later access token of the same grant and hands it to rclone', async () => {
    const { broker, sink, saved, endpoint } = await refreshedAndSaved();
    broker.lease(ID);
    // Another worker refreshed at 40 min; our own refresh of EwB-at-1 would have come at 45 min.
    await advance(40 * MINUTE);
    const later = { ...saved, accessToken: 'EwB-at-other-worker', expiresAt: iso(Date.now() + HOUR) };
    expect(broker.adopt(later)).toBe('newer-token');
    await settle();
    expect(broker.currentToken(ID)).toEqual({ access_token: 'EwB-at-other-worker', token_type: 'Bearer', expiry: later.expiresAt });

    // The proactive timer now follows the later token (next refresh at 85 min), so when rclone
    // drops EwB-at-1 at its expiry − 10 s it must already hold the later token.
    await advance(switchPoint(T0 + HOUR) - Date.now());
    expect(endpoint.calls).toHaveLength(1);
    expect(sink.last()).toEqual({ access_token: 'EwB-at-other-worker', token_type: 'Bearer', expiry: later.expiresAt });
  });

  it('calls a changed client secret a new grant', async () => {
    const { broker, saved, listener } = await refreshedAndSaved();
    expect(broker.adopt({ ...saved, clientSecret: 'rotated-client-secret' })).toBe('new-grant');
    expect(listener.reauthorized).not.toHaveBeenCalled(); // the breaker was not open
  });

  it('calls a different refresh token a new grant, and ignores storages that are not OAuth', async () => {
    const { broker, saved } = await refreshedAndSaved();
    expect(broker.adopt({ ...saved, refreshToken: 'M.C5-rt-someone-else' })).toBe('new-grant');
    expect(broker.adopt({ id: 9, technology: 'smb', uriSchema: 'smb-9', host: 'nas.local' })).toBe('not-oauth');
    expect(broker.isTracked(9)).toBe(false);
  });
});

describe('TokenBroker forceRefresh', () => {
  it('only pushes again when the token was refreshed moments ago', async () => {
    const { broker, endpoint, sink } = harness(storageRow(-MINUTE));
    await broker.ensureFresh(ID);
    await advance(10 * SECOND);

    await expect(broker.forceRefresh(ID, 'rclone: 401 unauthenticated')).resolves.toMatchObject({ access_token: 'EwB-at-1' });
    expect(endpoint.calls).toHaveLength(1);
    expect(sink.pushes.map((p) => p.token.access_token)).toEqual(['EwB-at-1', 'EwB-at-1']);

    await advance(30 * SECOND);
    await expect(broker.forceRefresh(ID, 'rclone: 401 unauthenticated')).resolves.toMatchObject({ access_token: 'EwB-at-2' });
    expect(endpoint.calls).toHaveLength(2);
  });
});

describe('TokenBroker metrics', () => {
  it('reports each token request with its cause and result, and each push with the expiry of the token it replaced', async () => {
    const recorder = { refreshed: vi.fn<TokenRecorder['refreshed']>(), pushed: vi.fn<TokenRecorder['pushed']>(), breakerOpened: vi.fn<TokenRecorder['breakerOpened']>() };
    const { broker, endpoint } = harness(storageRow(-MINUTE), { recorder });
    endpoint.script.push(unavailable());
    const fresh = broker.ensureFresh(ID);
    await advance(SECOND); // the backoff after the 503 (random = 1)
    await fresh;
    // The retry after the backoff is sent by the broker's background retry (the caller waits
    // for it rather than sending a second request).
    expect(recorder.refreshed.mock.calls.map(([e]) => [e.cause, e.result])).toEqual([
      ['just-in-time', 'transient'],
      ['background', 'ok'],
    ]);
    expect(recorder.pushed).toHaveBeenLastCalledWith(expect.objectContaining({ technology: 'onedrive', result: 'pushed', replacedExpiresAt: 0, inUse: false }));

    await advance(31 * SECOND);
    await broker.forceRefresh(ID, 'rclone: 401');
    expect(recorder.refreshed).toHaveBeenLastCalledWith(expect.objectContaining({ cause: 'forced', result: 'ok' }));
    expect(recorder.pushed).toHaveBeenLastCalledWith(expect.objectContaining({ result: 'pushed', replacedExpiresAt: T0 + HOUR + SECOND }));
  });
});
