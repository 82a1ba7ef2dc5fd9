/**
 * Auth failures and new credentials (jobs/auth-recovery.ts): a job whose grant is known dead
 * gets a fresh run on a reloaded remote as soon as a working token is live, never by waiting for
 * rclone's switch point; stop, then reload, then run.
 */
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { ReauthRequiredError } from '../../src/errors.js';
import { DROPBOX, Harness, LOCAL, NAS, ONEDRIVE, SECOND, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

const ONEDRIVE_401 = { signature: 'InvalidAuthenticationToken', technologies: ['onedrive'] };
const REVOKED = new ReauthRequiredError(ONEDRIVE.id, 'storage odAlice needs re-authentication: invalid_grant');

let h: Harness;

useJobRunnerHarnesses();

/** Index of an event; -1 when it did not happen. */
function at(event: string): number {
  return h.events.indexOf(event);
}

describe('JobRunner: new credentials replace a dead grant', () => {
  it('re-runs a running job at once when the broker had opened the breaker: stop, reload the remote, run', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }), job(2, { source: LOCAL, destination: NAS }));

    h.runner.grantDead(ONEDRIVE.id);
    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();

    expect(at('stop job-1-run-1')).toBeGreaterThan(-1);
    expect(at('reload odAlice')).toBeGreaterThan(at('stop job-1-run-1'));
    expect(at('start copy localDisk:docs/1 -> odAlice:backup/1 job-1-run-2')).toBeGreaterThan(at('reload odAlice'));
    expect(h.rclone.job(2).stopped).toBe(false);
    expect(h.runner.describe().map((d) => [d.id, d.phase, d.run])).toEqual([
      [1, 'running', 2],
      [2, 'running', 1],
    ]);
    expect(h.outbox.reports).toEqual([]);
  });

  it('leaves running jobs alone when the grant replaced was not known dead (a routine re-authentication)', async () => {
    h = new Harness();
    await h.startWith(job(1));

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();

    expect(h.rclone.count('job/stop')).toBe(0);
    expect(h.events).not.toContain('reload odAlice');
  });

  it('handles one new grant once, however many paths announce it', async () => {
    h = new Harness();
    await h.startWith(job(1));
    h.runner.grantDead(ONEDRIVE.id);

    h.runner.credentialsReplaced(ONEDRIVE.id); // the broker's listener, during the adoption
    h.runner.credentialsReplaced(ONEDRIVE.id); // the coordinator, after it
    await settle();

    expect(h.rclone.count('job/stop')).toBe(1);
    expect(h.events.filter((e) => e === 'reload odAlice')).toHaveLength(1);
  });
});

describe('JobRunner: auth failures rclone logs while a job runs', () => {
  it('matches a OneDrive line (no remote named) to the job on OneDrive only, refreshes, and gives that job a fresh run', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }), job(2, { source: LOCAL, destination: DROPBOX }));
    await elapse(5 * SECOND);

    h.runner.authSignal(ONEDRIVE_401);
    await settle();

    expect(h.tokens.forceRefreshed).toEqual([{ storageId: ONEDRIVE.id, cause: 'rclone logged "InvalidAuthenticationToken"' }]);
    expect(h.rclone.run(1, 2)).toBeDefined();
    expect(h.rclone.job(2).stopped).toBe(false);
    expect(at('reload odAlice')).toBeGreaterThan(at('stop job-1-run-1'));
  });

  it('one burst of lines is one refresh and one fresh run; lines of the run just stopped are not counted again', async () => {
    h = new Harness();
    await h.startWith(job(1));
    await elapse(5 * SECOND);

    for (let i = 0; i < 24; i++) h.runner.authSignal(ONEDRIVE_401);
    await settle();
    h.runner.authSignal(ONEDRIVE_401);
    await settle();

    expect(h.tokens.forceRefreshed).toHaveLength(1);
    expect(h.rclone.jobs.size).toBe(2);
  });

  it('gives fresh runs at most 3 times; then the run ends on its own and is reported DoneWithErrors', async () => {
    h = new Harness();
    await h.startWith(job(1));
    for (let run = 1; run <= 4; run++) {
      await elapse(5 * SECOND);
      h.runner.authSignal(ONEDRIVE_401);
      await settle();
    }
    expect(h.rclone.jobs.size).toBe(4);
    expect(h.log.records.some((r) => r.msg === 'auth failures persist after fresh tokens; the runs end on their own')).toBe(true);

    h.rclone.finish(h.rclone.run(1, 4)!.id, { success: false, error: 'InvalidAuthenticationToken: Access token has expired or is not yet valid.', transfers: 3 });
    await poll(h);
    expect(h.outbox.reports).toEqual([
      expect.objectContaining({ state: JobState.DoneWithErrors, reason: expect.stringMatching(/^authentication keeps failing after 3 fresh tokens/) as unknown }),
    ]);
  });

  it('a forced refresh that only re-pushes the token that already failed on a reloaded remote is no fresh token: no second restart; the run retries later, and new credentials end the wait at once', async () => {
    h = new Harness();
    await h.startWith(job(1));
    await elapse(5 * SECOND);
    h.runner.authSignal(ONEDRIVE_401); // a real refresh: fresh run 2 on a remote reloaded with its token
    await settle();
    expect(h.rclone.jobs.size).toBe(2);

    h.tokens.forceRefreshRepushes = true; // the broker refreshed moments ago: same token again
    await elapse(5 * SECOND);
    h.runner.authSignal(ONEDRIVE_401);
    await settle();
    expect(h.rclone.jobs.size).toBe(2);
    expect(h.log.records.some((r) => r.msg === 'the current token is refused too and cannot be renewed yet; the runs end on their own')).toBe(true);

    h.rclone.finish(h.rclone.run(1, 2)!.id, { success: false, error: 'InvalidAuthenticationToken: Access token has expired or is not yet valid.' });
    await poll(h);
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-retry', waitReason: 'the current token of odAlice is refused and cannot be renewed yet' }]);

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'running', run: 3 }]);
    expect(h.events.filter((e) => e === 'reload odAlice')).toHaveLength(2);
  });

  it('a routine re-authentication reloads an idle remote, so no later run starts on a cached Fs with the old grant', async () => {
    h = new Harness();
    await h.startWith();
    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();
    expect(h.events).toEqual(['reload odAlice']);
  });

  it('a dead grant (the refresh is refused): no fresh run; the job waits for re-authentication when its run ends, and runs on new credentials', async () => {
    h = new Harness();
    h.tokens.failForceRefresh(ONEDRIVE.id, REVOKED, REVOKED);
    await h.startWith(job(1));
    await elapse(5 * SECOND);

    h.runner.authSignal(ONEDRIVE_401);
    await settle();
    expect(h.rclone.count('job/stop')).toBe(0);

    h.rclone.finish(h.rclone.run(1, 1)!.id, { success: false, error: 'context canceled', transfers: 16 });
    await poll(h);
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-reauth' }]);

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();
    expect(at('reload odAlice')).toBeGreaterThan(-1);
    h.rclone.finish(h.rclone.run(1, 2)!.id, { success: true });
    await poll(h);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('a password storage (smb) that refuses the login: the job waits for new credentials, and runs when its remote changes', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: NAS }));

    h.rclone.finish(1, { success: false, error: 'response error: The attempted logon is invalid. This is either due to a bad username or authentication information.' });
    await poll(h);
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-reauth' }]);
    expect(h.tokens.forceRefreshed).toEqual([]);

    const changed: string[] = [];
    expect(
      await h.runner.restartJobsOn(['nasHome'], 'remote nasHome changed (pass)', async () => {
        changed.push('pass');
      }),
    ).toEqual([1]);
    await settle();
    expect(changed).toEqual(['pass']);
    expect(h.rclone.run(1, 2)).toBeDefined();
  });
});

describe('JobRunner: JobUpdated from the hub', () => {
  it('asks the hub at once about a job it announces in another state, and abandons it when the hub no longer has it as ours', async () => {
    h = new Harness();
    await h.startWith(job(1));

    h.runner.hubUpdated(1, 'Executing');
    h.runner.hubUpdated(99, 'Cancelled');
    await settle();
    expect(h.hub.reports).toEqual([]);

    h.hub.unknownJobs.add(1);
    h.runner.hubUpdated(1, 'Cancelled');
    await settle();
    expect(h.hub.heartbeatsOf(1)).toHaveLength(1);
    expect(h.rclone.job(1).stopped).toBe(true);
    expect(h.runner.ownedJobIds()).toEqual([]);
    expect(h.outbox.reports).toEqual([]);
  });
});
