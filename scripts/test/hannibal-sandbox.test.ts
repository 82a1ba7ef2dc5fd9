/**
 * The sandbox's multi-user parts: a second user on the one stand-in hub, storages owned by a
 * given user, and worker processes that log in with a given user's credentials.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RuleOperation } from '../../shared/hannibal.js';
import { HUB_USER, Sandbox } from '../sandbox.js';

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

describe('two users on one hub', () => {
  it('creates storages, endpoints, rules and jobs owned by the user given, the first user by default', async () => {
    sandbox = await Sandbox.start();
    const bob = sandbox.addUser('bob@example.test', 'bob-sandbox-password-1');

    const alicesDisk = sandbox.addLocalStorage('alice-disk');
    const bobsDisk = sandbox.addLocalStorage('bob-disk', { user: bob });
    const bobsCloud = sandbox.addGcsStorage('bob-gcs', { user: bob }).storage;
    const bobsDav = sandbox.addNextcloudStorage('bob-dav', 'bob', 'bob-dav-password-1', { user: bob });
    const rule = sandbox.addRule('bob’s backup', { storage: bobsDisk, path: '/tmp/a' }, { storage: bobsCloud, path: 'bucket/a' }, RuleOperation.Sync, {
      minRetryTime: '00:00:05',
    });
    const job = sandbox.hub.createJob(rule.id);

    expect(sandbox.hubUser.email).toBe(HUB_USER.email);
    expect(alicesDisk.userId).toBe(sandbox.hubUser.id);
    expect([bobsDisk, bobsCloud, bobsDav].map((s) => s.userId)).toEqual([bob.id, bob.id, bob.id]);
    expect(rule).toMatchObject({ userId: bob.id, operation: RuleOperation.Sync, minRetryTime: '00:00:05', maxDestinationAge: '1.00:00:00' });
    expect(job.userId).toBe(bob.id);
  });

  it('gives each worker its user’s credentials and counts every user’s password, hash and stamp as a secret', async () => {
    sandbox = await Sandbox.start();
    const bob = sandbox.addUser('bob@example.test', 'bob-sandbox-password-1');

    expect(sandbox.workerEnv('a')).toMatchObject({ BACKER_USERNAME: HUB_USER.email, BACKER_PASSWORD: HUB_USER.password });
    expect(sandbox.workerEnv('b', { LOG_LEVEL: 'debug' }, { user: bob })).toMatchObject({
      BACKER_USERNAME: bob.email,
      BACKER_PASSWORD: bob.password,
      LOG_LEVEL: 'debug',
      WORKER_OWNER_ID: 'worker-b',
    });
    for (const user of [sandbox.hubUser, bob]) {
      expect(sandbox.secrets()).toEqual(expect.arrayContaining([user.password, user.passwordHash, user.securityStamp]));
    }
  });

  it('starts a worker process that logs in to the hub as the user given', async () => {
    sandbox = await Sandbox.start();
    const bob = sandbox.addUser('bob@example.test', 'bob-sandbox-password-1');

    const worker = sandbox.spawnWorker('b', {}, { user: bob });
    await worker.waitForLog((r) => r.msg === 'logged in to the hub');

    expect(sandbox.hub.logins).toContainEqual(expect.objectContaining({ email: bob.email, ok: true }));
    expect(sandbox.hub.logins.filter((l) => l.email === HUB_USER.email)).toEqual([]);
    expect(await worker.stop()).toBe(0);
  });
});
