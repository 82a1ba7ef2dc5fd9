/**
 * rclone must never outlive the worker: a worker killed with SIGKILL (OOM killer, `kill -9`)
 * whose rclone runs on keeps writing to the destination while the hub hands the job to another
 * worker (issue 9.2). Three layers, fastest first:
 *
 * 1. `setpriv --pdeathsig KILL -- rclone …` (util-linux ≥ 2.33, part of every Debian since 10):
 *    setpriv sets PR_SET_PDEATHSIG and execs rclone in place (same pid, the setting survives the
 *    exec), so the kernel SIGKILLs rclone the instant the worker dies. The signal fires when the
 *    *thread* that forked rclone ends; Node forks children from its main thread (libuv's
 *    `uv_spawn` runs on the event-loop thread), whose end is the end of the process.
 * 2. rclone's stderr is a pipe read by the worker. Once the worker is gone, rclone's next log
 *    line fails with EPIPE and the Go runtime ends it with SIGPIPE (measured with 1.60.1). This
 *    covers the instant between fork and setpriv's prctl, and hosts without setpriv — but an
 *    upload of one large file may log nothing for minutes.
 * 3. The pidfile (pidfile.ts): the next start terminates an rclone left with our config.
 */
import { spawn } from 'node:child_process';
import { findExecutable } from './executable.js';

export interface ParentDeathGuard {
  /** `setpriv`: the kernel kills rclone with the worker; `none`: only layers 2 and 3 apply. */
  readonly mechanism: 'setpriv' | 'none';
  /** The command that runs `file args` under the guard (the same pid ends up running `file`). */
  command(file: string, args: readonly string[]): { file: string; args: string[] };
}

export const NO_GUARD: ParentDeathGuard = {
  mechanism: 'none',
  command: (file, args) => ({ file, args: [...args] }),
};

const PROBE_TIMEOUT_MS = 5_000;

let detected: Promise<ParentDeathGuard> | undefined;

/** The best guard this host offers; probed once per process (one run of `setpriv`, a few ms). */
export function parentDeathGuard(): Promise<ParentDeathGuard> {
  detected ??= detect();
  return detected;
}

async function detect(): Promise<ParentDeathGuard> {
  const setpriv = await findExecutable('setpriv');
  if (setpriv === undefined || !(await pdeathsigWorks(setpriv))) return NO_GUARD;
  return {
    mechanism: 'setpriv',
    command: (file, args) => ({ file: setpriv, args: ['--pdeathsig', 'KILL', '--', file, ...args] }),
  };
}

/** Older setpriv lacks `--pdeathsig`, and a seccomp profile may refuse the prctl: try it once. */
function pdeathsigWorks(setpriv: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(setpriv, ['--pdeathsig', 'KILL', '--', setpriv, '--version'], { stdio: 'ignore', timeout: PROBE_TIMEOUT_MS });
    child.once('error', () => {
      resolve(false);
    });
    child.once('exit', (code) => {
      resolve(code === 0);
    });
  });
}
