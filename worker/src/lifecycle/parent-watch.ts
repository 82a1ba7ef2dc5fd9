/**
 * Under npm, the process a user signals is npm, and npm passes SIGINT and SIGTERM on to its
 * script's shell, not to the worker. `npm start` execs the worker in place of that shell, but
 * `npx rclone-sync-worker` runs `sh -c rclone-sync-worker`, and dash does not exec a lone
 * command: the shell dies of the signal and the worker is orphaned with nothing to tell it
 * (research/real-hannibal.md F3). And npm killed with SIGKILL orphans any worker. So, under npm
 * only, losing the parent is a stop request like SIGTERM. Not elsewhere: a worker started with
 * `nohup … &` from a shell that then exits must keep running.
 */

/** npm sets these for every script and for `npm exec`/`npx` (npm_command: start, exec, …). */
export function startedByNpm(env: NodeJS.ProcessEnv): boolean {
  return env.npm_command !== undefined || env.npm_lifecycle_event !== undefined;
}

export interface ParentWatch {
  stop(): void;
}

/**
 * Calls `orphaned` once when this process's parent changes, i.e. the parent died and the
 * process was re-parented to init or a subreaper. getppid() is one cheap system call per tick.
 */
export function watchParent(orphaned: (parent: number) => void, options: { intervalMs?: number; ppid?: () => number } = {}): ParentWatch {
  const ppid = options.ppid ?? (() => process.ppid);
  const parent = ppid();
  const timer = setInterval(() => {
    if (ppid() === parent) return;
    clearInterval(timer);
    orphaned(parent);
  }, options.intervalMs ?? 500);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
