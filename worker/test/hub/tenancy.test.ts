/**
 * Only our user's storages and jobs (real-hannibal.md F2): the real hub lists every user's
 * storages with their secrets and hands out any user's job.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { JobState, RuleOperation, type AcquireParams, type Job, type JobStatusReport, type ReportResult, type Storage } from '../../../shared/hannibal.js';
import { HubError, StorageError } from '../../src/errors.js';
import { TenantGuard, type GuardedHub } from '../../src/hub/tenancy.js';
import { recordingLogger } from '../support/recording-logger.js';

const ALICE = '2D69C5E3-aaaa-4bbb-8ccc-000000000001';
const BOB = '7f1e0b2c-aaaa-4bbb-8ccc-000000000002';

const aliceGcs: Storage = { id: 1, userId: ALICE.toLowerCase(), technology: 'gcs', uriSchema: 'alicegcs', accessToken: 'ya29.alice', refreshToken: '1//alice-rt', clientSecret: 'alice-secret' };
const bobNc: Storage = { id: 2, userId: BOB, technology: 'nextcloud', uriSchema: 'bobnc', username: 'bob', password: 'bob-password-1', host: 'https://nc.example' };
const orphan: Storage = { id: 3, technology: 'local', uriSchema: 'nouser' };

class Hub implements GuardedHub {
  user = { id: ALICE };
  rows: Storage[] = [aliceGcs, bobNc, orphan];
  next: Job | null = null;
  readonly saved: Storage[] = [];

  async currentUser(): Promise<{ id: string }> {
    return this.user;
  }
  async storages(): Promise<Storage[]> {
    return structuredClone(this.rows);
  }
  async saveStorage(storage: Storage): Promise<Storage> {
    this.saved.push(storage);
    return storage;
  }
  async acquireNextJob(_params: AcquireParams): Promise<Job | null> {
    return structuredClone(this.next);
  }
  async reportJob(_report: JobStatusReport): Promise<ReportResult> {
    return { status: 0 };
  }
}

function jobOf(userId: string, source: Storage, destination: Storage): Job {
  return {
    id: 9,
    userId,
    operation: RuleOperation.Copy,
    owner: 'w',
    state: JobState.Executing,
    sourceEndpointId: 90,
    sourceEndpoint: { id: 90, userId, storageId: source.id, storage: source, path: '/src' },
    destinationEndpointId: 91,
    destinationEndpoint: { id: 91, userId, storageId: destination.id, storage: destination, path: 'dst' },
    fromRule: {
      id: 4,
      name: 'r',
      sourceEndpointId: 90,
      destinationEndpointId: 91,
      operation: RuleOperation.Copy,
      sourceEndpoint: { id: 90, storageId: source.id, storage: source, path: '/src' },
      destinationEndpoint: { id: 91, storageId: destination.id, storage: destination, path: 'dst' },
    },
  };
}

let hub: Hub;
let guard: TenantGuard;
let log: ReturnType<typeof recordingLogger>;

beforeEach(async () => {
  hub = new Hub();
  log = recordingLogger();
  guard = new TenantGuard(hub, log.logger);
  await guard.checkOnline();
});

describe('TenantGuard', () => {
  it('learns our user from GET /users/-1', () => {
    expect(guard.user).toBe(ALICE);
  });

  it("keeps our storages and drops every other user's rows (secrets included) where they enter; ids compare without case", async () => {
    expect(await guard.storages()).toEqual([aliceGcs]);
    expect(JSON.stringify(log.records)).not.toContain('bob-password-1');
    expect(log.records.filter((r) => r.msg.startsWith('storages of other users ignored'))).toEqual([expect.objectContaining({ ours: 1, ignored: 2 })]);
    await guard.storages();
    expect(log.records.filter((r) => r.msg.startsWith('storages of other users ignored'))).toHaveLength(1);
  });

  it("refuses to save a storage that is not ours", async () => {
    await expect(guard.saveStorage(bobNc)).rejects.toBeInstanceOf(StorageError);
    await expect(guard.saveStorage(orphan)).rejects.toBeInstanceOf(StorageError);
    await guard.saveStorage(aliceGcs);
    expect(hub.saved.map((s) => s.id)).toEqual([1]);
  });

  it('strips every storage the hub embeds in an acquired job down to id, user, technology and name', async () => {
    hub.next = jobOf(ALICE, aliceGcs, bobNc);
    const job = await guard.acquireNextJob({ username: 'a', capabilities: 'rclone', owner: 'w', networks: '' });
    const text = JSON.stringify(job);
    for (const secret of ['ya29.alice', '1//alice-rt', 'alice-secret', 'bob-password-1']) expect(text).not.toContain(secret);
    expect(job?.destinationEndpoint?.storage).toEqual({ id: 2, userId: BOB, technology: 'nextcloud', uriSchema: 'bobnc' });
    expect(job?.fromRule?.sourceEndpoint?.storage).toEqual({ id: 1, userId: ALICE.toLowerCase(), technology: 'gcs', uriSchema: 'alicegcs' });
  });

  it('tells our jobs from foreign ones: by the job user, the endpoint users and the storage users', async () => {
    await guard.storages();
    expect(guard.whose(jobOf(ALICE, aliceGcs, aliceGcs))).toEqual({ ours: true });
    expect(guard.whose(jobOf(BOB, bobNc, bobNc))).toEqual({ ours: false, reason: 'the job belongs to another user' });
    expect(guard.whose({ ...jobOf(ALICE, aliceGcs, aliceGcs), userId: undefined } as unknown as Job)).toMatchObject({ ours: false });

    const viaEndpoint = jobOf(ALICE, aliceGcs, aliceGcs);
    viaEndpoint.destinationEndpoint = { ...viaEndpoint.destinationEndpoint!, userId: BOB };
    expect(guard.whose(viaEndpoint)).toEqual({ ours: false, reason: 'its destination endpoint belongs to another user' });

    // A job of ours that names another user's storage (only its id: the hub embedded nothing).
    const viaStorage = jobOf(ALICE, aliceGcs, aliceGcs);
    viaStorage.sourceEndpoint = { id: 90, userId: ALICE, storageId: bobNc.id, path: '/' };
    expect(guard.whose(viaStorage)).toEqual({ ours: false, reason: 'its source storage belongs to another user' });
  });

  it('fails closed before it knows its user', async () => {
    const fresh = new TenantGuard(hub, log.logger);
    await expect(fresh.storages()).rejects.toBeInstanceOf(HubError);
    expect(fresh.whose(jobOf(ALICE, aliceGcs, aliceGcs))).toMatchObject({ ours: false });
  });
});
