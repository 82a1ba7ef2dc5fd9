import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { jobOutcome } from '../../src/jobs/outcome.js';

const DIR_ERROR = 'directory not found';

describe('jobOutcome', () => {
  it('maps a successful job to DoneSuccess without a reason, whatever the stats say', () => {
    expect(jobOutcome({ success: true, error: '' }, { transfers: 12 })).toEqual({ state: JobState.DoneSuccess, reason: undefined });
    expect(jobOutcome({ success: true, error: '' }, undefined)).toEqual({ state: JobState.DoneSuccess, reason: undefined });
  });

  it('maps a failure after the job transferred files to DoneWithErrors (no immediate retry by the hub)', () => {
    const outcome = jobOutcome({ success: false, error: 'failed to copy 2 files' }, { transfers: 3 });
    expect(outcome).toEqual({ state: JobState.DoneWithErrors, reason: 'failed to copy 2 files' });
  });

  it('maps a failure before any transfer to DoneFailure (the hub re-queues it)', () => {
    expect(jobOutcome({ success: false, error: DIR_ERROR }, { transfers: 0 })).toEqual({ state: JobState.DoneFailure, reason: DIR_ERROR });
    expect(jobOutcome({ success: false, error: DIR_ERROR }, undefined)).toEqual({ state: JobState.DoneFailure, reason: DIR_ERROR });
  });

  it("gives the first line of job/status.error as the reason", () => {
    const error =
      'couldn\'t fetch token - maybe it has expired? - refresh with "rclone config reconnect gcsB:": oauth2: cannot fetch token: 400 Bad Request  \n' +
      'Response: {"error":"invalid_grant"}';
    expect(jobOutcome({ success: false, error }, { transfers: 0 }).reason).toBe(
      'couldn\'t fetch token - maybe it has expired? - refresh with "rclone config reconnect gcsB:": oauth2: cannot fetch token: 400 Bad Request',
    );
  });

  it('names a failure without a message and bounds a very long line', () => {
    expect(jobOutcome({ success: false, error: '' }, undefined).reason).toBe('rclone reported failure without a message');
    const long = jobOutcome({ success: false, error: 'x'.repeat(2000) }, undefined).reason ?? '';
    expect(long).toBe(`${'x'.repeat(500)}…`);
  });
});
