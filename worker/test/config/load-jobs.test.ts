/**
 * The failed-jobs block of the settings (README: the failure table): defaults, overrides, bounds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'worker-config-jobs-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HANNIBAL_URL: 'http://127.0.0.1:5000',
    BACKER_USERNAME: 'worker@example.test',
    BACKER_PASSWORD: 'hub-password',
    WORKER_STATE_DIR: join(dir, 'state'),
    WORKER_NETWORKS: 'test-net',
    WORKER_OWNER_ID: 'w-1',
    ...extra,
  };
}

describe('settings: failed jobs and hand-backs', () => {
  it('defaults: 5 retries from 30 s doubling to 10 min, a 30 min hand-back window, acquisition backoff up to 60 s', async () => {
    expect((await loadSettings(env())).jobs).toEqual({ retries: 5, retrySeconds: 30, retryMaxSeconds: 600, handbackWindowSeconds: 1800, acquireBackoffMaxSeconds: 60 });
  });

  it('takes every variable', async () => {
    const settings = await loadSettings(
      env({
        WORKER_JOB_RETRIES: '0',
        WORKER_JOB_RETRY_SECONDS: '2',
        WORKER_JOB_RETRY_MAX_SECONDS: '20',
        WORKER_HANDBACK_WINDOW_SECONDS: '60',
        WORKER_ACQUIRE_BACKOFF_MAX_SECONDS: '5',
      }),
    );
    expect(settings.jobs).toEqual({ retries: 0, retrySeconds: 2, retryMaxSeconds: 20, handbackWindowSeconds: 60, acquireBackoffMaxSeconds: 5 });
  });

  it('refuses values out of range, naming each', async () => {
    const failure = await loadSettings(env({ WORKER_JOB_RETRIES: '-1', WORKER_JOB_RETRY_SECONDS: '0', WORKER_ACQUIRE_BACKOFF_MAX_SECONDS: 'soon' })).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ConfigError);
    const message = (failure as ConfigError).message;
    for (const name of ['WORKER_JOB_RETRIES', 'WORKER_JOB_RETRY_SECONDS', 'WORKER_ACQUIRE_BACKOFF_MAX_SECONDS']) expect(message).toContain(name);
  });
});
