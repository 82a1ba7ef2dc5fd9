/**
 * The shipped systemd unit stops the worker the way the worker needs (KillMode=mixed: SIGTERM to
 * the worker alone) and gives the drain its whole budget before SIGKILL. `systemd-analyze verify`
 * of the same file runs in CI (scripts/verify-systemd-unit.sh).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { drainBudgetMs } from '../../src/lifecycle/shutdown-signals.js';
import { REPO_ROOT } from '../../../scripts/sandbox.js';

const UNIT = readFileSync(join(REPO_ROOT, 'config/systemd/rclone-sync-worker.service'), 'utf8');

function directive(name: string): string[] {
  return UNIT.split('\n')
    .filter((line) => line.startsWith(`${name}=`))
    .map((line) => line.slice(name.length + 1).trim());
}

describe('config/systemd/rclone-sync-worker.service', () => {
  it('signals the worker alone on stop and SIGKILLs only what is left', () => {
    expect(directive('KillMode')).toEqual(['mixed']);
    expect(directive('KillSignal')).toEqual(['SIGTERM']);
  });

  it('waits longer than the longest drain with the default settings', async () => {
    const settings = await loadSettings({
      HANNIBAL_URL: 'http://127.0.0.1:1',
      BACKER_USERNAME: 'worker@example.test',
      BACKER_PASSWORD: 'unit-test-password',
      WORKER_STATE_DIR: '/nonexistent/state',
      WORKER_OWNER_ID: 'unit',
      WORKER_NETWORKS: 'unit',
    });
    const [timeout] = directive('TimeoutStopSec');
    expect(Number(timeout) * 1000).toBeGreaterThan(drainBudgetMs(settings.worker.shutdownTimeoutSeconds));
  });

  it('restarts after a failure but not on an invalid configuration (exit 2), and keeps its state', () => {
    expect(directive('Restart')).toEqual(['on-failure']);
    expect(directive('RestartPreventExitStatus')).toEqual(['2']);
    expect(directive('StateDirectory')).toEqual(['rclone-sync-worker']);
    expect(directive('Environment').join(' ')).toContain('WORKER_STATE_DIR=%S/rclone-sync-worker');
  });

  it('is hardened', () => {
    for (const [name, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
    ]) {
      expect(directive(name!), name).toEqual([value]);
    }
    // Node's JIT needs writable+executable pages.
    expect(directive('MemoryDenyWriteExecute')).toEqual([]);
  });
});
