/**
 * The token broker and the grant journal (issue 9.1): a rotated refresh token is on disk before
 * it is used, leaves the journal once the hub has it, survives a crash, and is reconciled with
 * the hub's row before anything refreshes; a journal that cannot be written is loud, not lossy.
 */
import { describe, expect, it, vi } from 'vitest';
import { clientFingerprint } from '../../src/tokens/grant-lineage.js';
import type { JournaledGrant } from '../../src/tokens/grant-journal.js';
import { recordingLogger } from '../support/recording-logger.js';
import { HOUR, ID, MINUTE, SECOND, T0, advance, brokerHooks, harness, iso, journalLeftBy, settle, storageRow, unreachable } from './broker-harness.js';
import { MemoryJournalMedium } from './memory-journal-medium.js';

brokerHooks();

/** What a run that crashed after rotating M.C5-rt-0 → M.C5-rt-1 left in its journal. */
function crashedRunGrant(overrides: Partial<JournaledGrant> = {}): JournaledGrant {
  const row = storageRow(HOUR);
  return {
    storageId: ID,
    uriSchema: row.uriSchema,
    technology: 'onedrive',
    client: clientFingerprint(row),
    refreshToken: 'M.C5-rt-1',
    supersededRefreshTokens: ['M.C5-rt-0'],
    accessToken: 'EwB-at-journaled',
    tokenType: 'Bearer',
    expiresAt: T0 + 50 * MINUTE,
    issuedAt: T0 - 10 * MINUTE,
    journaledAt: T0 - 10 * MINUTE,
    ...overrides,
  };
}

describe('TokenBroker journals rotated refresh tokens', () => {
  it('puts a rotated refresh token on disk before the new token is pushed or handed out, and removes it once the hub has it', async () => {
    const h = harness(storageRow(-MINUTE));
    h.endpoint.rotate = true;
    const release = h.medium.hold();

    let handedOut: string | undefined;
    const fresh = h.broker.ensureFresh(ID).then((t) => (handedOut = t.access_token));
    await settle();
    // The provider has answered (and, with strict rotation, killed M.C5-rt-0), the disk has not.
    expect(h.endpoint.calls).toHaveLength(1);
    expect(h.sink.pushes).toHaveLength(0);
    expect(h.hub.saves).toHaveLength(0);
    expect(handedOut).toBeUndefined();
    expect(h.broker.currentToken(ID)?.access_token).toBe('EwB-at-0');

    release();
    await fresh;
    await settle();
    expect(handedOut).toBe('EwB-at-1');
    expect(h.sink.pushes.map((p) => p.token.access_token)).toEqual(['EwB-at-1']);
    expect(h.hub.rows.get(ID)?.refreshToken).toBe('M.C5-rt-1');
    expect(h.medium.events).toEqual([`write ${ID} M.C5-rt-1`, `remove ${ID} M.C5-rt-1`]);
    expect(h.medium.entries.size).toBe(0);
  });

  it('journals nothing when the provider keeps the refresh token', async () => {
    const h = harness(storageRow(-MINUTE));
    await h.broker.ensureFresh(ID);
    await settle();
    expect(h.hub.saves).toHaveLength(1);
    expect(h.medium.events).toEqual([]);
  });

  it('keeps the entry while the hub save fails and retries the save within seconds, not at the next sweep', async () => {
    const h = harness(storageRow(-MINUTE), { random: () => 1 });
    h.endpoint.rotate = true;
    const save = vi.spyOn(h.hub, 'saveStorage').mockRejectedValueOnce(new Error('hub answered 502')).mockRejectedValueOnce(new Error('hub answered 502'));

    await h.broker.ensureFresh(ID);
    await settle();
    expect(save).toHaveBeenCalledTimes(1);
    expect(h.medium.entries.get(ID)?.refreshToken).toBe('M.C5-rt-1');

    await advance(2 * SECOND); // backoff 2 s (random = 1)
    expect(save).toHaveBeenCalledTimes(2);
    expect(h.medium.entries.get(ID)?.refreshToken).toBe('M.C5-rt-1');

    await advance(4 * SECOND);
    expect(save).toHaveBeenCalledTimes(3);
    expect(h.hub.rows.get(ID)?.refreshToken).toBe('M.C5-rt-1');
    expect(h.medium.entries.size).toBe(0);
  });

  it('keeps the newer entry when the save of an older rotation lands after it', async () => {
    const h = harness(storageRow(-MINUTE));
    h.endpoint.rotate = true;
    const slowSave = vi.spyOn(h.hub, 'saveStorage');
    let finishFirstSave: () => void = () => undefined;
    slowSave.mockImplementationOnce(async (row) => {
      await new Promise<void>((resolve) => (finishFirstSave = resolve));
      h.hub.rows.set(row.id, structuredClone(row));
      return structuredClone(row);
    });

    await h.broker.ensureFresh(ID); // rt-0 → rt-1, its save hangs
    await settle();
    await advance(31 * SECOND);
    await h.broker.forceRefresh(ID, 'rclone: 401'); // rt-1 → rt-2, journaled
    expect(h.medium.entries.get(ID)?.refreshToken).toBe('M.C5-rt-2');

    finishFirstSave();
    await settle();
    // The hub stored rt-1 only: rt-2 stays journaled until its own save lands.
    expect(h.medium.events.slice(0, 2)).toEqual([`write ${ID} M.C5-rt-1`, `write ${ID} M.C5-rt-2`]);
    await settle();
    expect(h.hub.rows.get(ID)?.refreshToken).toBe('M.C5-rt-2');
    expect(h.medium.entries.size).toBe(0);
    expect(h.medium.events.filter((e) => e.startsWith('remove'))).toEqual([`remove ${ID} M.C5-rt-2`]);
  });

  it('keeps a re-authentication that arrives while the rotated token is being journaled', async () => {
    const h = harness(storageRow(-MINUTE));
    h.endpoint.rotate = true;
    const release = h.medium.hold();
    const fresh = h.broker.ensureFresh(ID);
    await settle();
    expect(h.broker.adopt(storageRow(HOUR, { accessToken: 'EwB-at-reauth', refreshToken: 'M.C5-rt-reauth' }))).toBe('new-grant');
    release();
    await expect(fresh).resolves.toMatchObject({ access_token: 'EwB-at-reauth' });
    await settle();
    expect(h.broker.currentToken(ID)?.access_token).toBe('EwB-at-reauth');
    expect(h.medium.entries.size).toBe(0);
    await h.broker.forceRefresh(ID, 'rclone: 401');
    expect(h.endpoint.calls.at(-1)?.req.refreshToken).toBe('M.C5-rt-reauth');
  });

  it('drops a pending entry when the hub brings a new grant (a re-authentication wins)', async () => {
    const h = harness(storageRow(-MINUTE));
    h.endpoint.rotate = true;
    vi.spyOn(h.hub, 'saveStorage').mockRejectedValue(new Error('hub answered 503'));
    await h.broker.ensureFresh(ID);
    await settle();
    expect(h.medium.entries.has(ID)).toBe(true);

    expect(h.broker.adopt(storageRow(HOUR, { accessToken: 'EwB-at-reauth', refreshToken: 'M.C5-rt-reauth' }))).toBe('new-grant');
    await settle();
    expect(h.medium.entries.has(ID)).toBe(false);
  });
});

describe('TokenBroker reconciles a crashed run’s journal with the hub before refreshing', () => {
  it('uses and saves a journaled grant when the hub still holds the refresh token it replaced', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant()]);
    // The hub never got rt-1: it still holds rt-0 (dead at a strict-rotation provider).
    const h = harness(storageRow(-MINUTE), { journal, medium });

    expect(h.broker.currentToken(ID)?.access_token).toBe('EwB-at-journaled');
    await settle();
    expect(h.endpoint.calls).toHaveLength(0);
    expect(h.hub.rows.get(ID)).toMatchObject({ accessToken: 'EwB-at-journaled', refreshToken: 'M.C5-rt-1', expiresAt: iso(T0 + 50 * MINUTE) });
    expect(medium.entries.size).toBe(0);

    // The next refresh spends the journaled refresh token, never the dead one.
    await h.broker.forceRefresh(ID, 'rclone: 401');
    expect(h.endpoint.calls.map((c) => c.req.refreshToken)).toEqual(['M.C5-rt-1']);
  });

  it('refreshes with the journaled refresh token when the journaled access token has expired meanwhile', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant({ expiresAt: T0 - MINUTE })]);
    const h = harness(storageRow(-MINUTE), { journal, medium });
    await h.broker.ensureFresh(ID);
    expect(h.endpoint.calls.map((c) => c.req.refreshToken)).toEqual(['M.C5-rt-1']);
  });

  it('drops a journaled grant the hub already has (only the clean-up was lost)', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant()]);
    const h = harness(storageRow(HOUR, { accessToken: 'EwB-at-journaled', refreshToken: 'M.C5-rt-1' }), { journal, medium });
    await settle();
    expect(medium.entries.size).toBe(0);
    expect(h.hub.saves).toHaveLength(0);
    expect(h.broker.currentToken(ID)?.access_token).toBe('EwB-at-journaled');
  });

  it('lets a re-authentication made while the worker was down win, even though the journaled token is later', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant({ issuedAt: T0, journaledAt: T0, expiresAt: T0 + 2 * HOUR })]);
    const reauth = storageRow(HOUR, { accessToken: 'EwB-at-reauth', refreshToken: 'M.C5-rt-reauth' });
    const { logger, records } = recordingLogger();
    const h = harness(reauth, { journal, medium, logger });
    await settle();

    expect(medium.entries.size).toBe(0);
    expect(h.hub.saves).toHaveLength(0);
    expect(h.broker.currentToken(ID)?.access_token).toBe('EwB-at-reauth');
    expect(records.some((r) => r.level === 40 && r.msg.startsWith('the hub holds other credentials than the journaled grant'))).toBe(true);
    await h.broker.forceRefresh(ID, 'rclone: 401');
    expect(h.endpoint.calls.map((c) => c.req.refreshToken)).toEqual(['M.C5-rt-reauth']);
  });

  it('lets a changed client secret at the hub win over the journaled grant', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant()]);
    const h = harness(storageRow(-MINUTE, { clientId: 'app', clientSecret: 'new-secret' }), { journal, medium });
    await settle();
    expect(medium.entries.size).toBe(0);
    expect(h.hub.saves).toHaveLength(0);
  });

  it('drops journaled grants of storages the hub no longer has', async () => {
    const { journal, medium } = await journalLeftBy([crashedRunGrant({ storageId: 99, uriSchema: 'gone' })]);
    const h = harness(storageRow(HOUR), { journal, medium });
    expect(journal.unsettled()).toEqual([99]);
    h.broker.settleJournal();
    await settle();
    expect(medium.entries.size).toBe(0);
  });
});

describe('TokenBroker when the journal cannot be written', () => {
  it('uses the rotated token, says the grant is only in memory, and saves it to the hub at once, retrying every few seconds', async () => {
    const medium = new MemoryJournalMedium();
    medium.failWrites = 'ENOSPC';
    const { logger, records } = recordingLogger();
    const h = harness(storageRow(-MINUTE), { medium, logger, random: () => 1 });
    h.endpoint.rotate = true;
    const save = vi.spyOn(h.hub, 'saveStorage').mockRejectedValueOnce(new Error('hub answered 503'));

    await expect(h.broker.ensureFresh(ID)).resolves.toMatchObject({ access_token: 'EwB-at-1' });
    await settle();
    expect(h.sink.pushes.map((p) => p.token.access_token)).toEqual(['EwB-at-1']);
    const alarm = records.filter((r) => r.msg.startsWith('could not journal a rotated refresh token'));
    expect(alarm).toEqual([expect.objectContaining({ level: 50, storage: 'onedrive-7', errno: 'ENOSPC' })]);
    expect(records.find((r) => r.msg === 'token refreshed')).toMatchObject({ rotated: true, journaled: false });
    expect(JSON.stringify(records)).not.toContain('M.C5-rt-1');
    expect(save).toHaveBeenCalledTimes(1);

    await advance(2 * SECOND);
    expect(save).toHaveBeenCalledTimes(2);
    expect(h.hub.rows.get(ID)?.refreshToken).toBe('M.C5-rt-1');
    expect(medium.events).toEqual([]);
  });
});

describe('TokenBroker keeps a failed refresh going in the background', () => {
  it('gives up at once with a zero wait budget, then retries without a lease and pushes the token when the endpoint is back', async () => {
    const h = harness(storageRow(-MINUTE), { random: () => 1 });
    h.endpoint.script.push(unreachable(), unreachable());

    await expect(h.broker.ensureFresh(ID, 20 * SECOND, 0)).rejects.toMatchObject({ permanent: false });
    expect(h.endpoint.calls).toHaveLength(1);

    await advance(1 * SECOND); // backoff 1 s
    expect(h.endpoint.calls).toHaveLength(2);
    await advance(2 * SECOND); // then 2 s: the endpoint answers
    expect(h.endpoint.calls).toHaveLength(3);
    expect(h.sink.last()?.access_token).toBe('EwB-at-3');

    // Success ends the background retries of a storage nobody leases.
    await advance(HOUR);
    expect(h.endpoint.calls).toHaveLength(3);
  });
});
