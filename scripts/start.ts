/**
 * `npm start`. package.json runs it with `exec`, so this is the process npm starts, signals and
 * forwards signals to (npm forwards SIGINT and SIGTERM to its script; a shell that is not
 * replaced by `exec` dies of them and orphans what it started — research/real-hannibal.md F3).
 *
 * - With `HANNIBAL_URL` set: the worker itself, in this process, as in production: SIGTERM or
 *   SIGINT drains it (worker/src/main.ts).
 * - Without it: the embedded demo (scripts/demo.ts).
 *
 * Each branch is imported only when chosen: the demo's stand-ins would only slow the worker's
 * start, and the worker has nothing to add to the demo's process.
 */
if (process.env.HANNIBAL_URL) await import('../worker/src/main.js');
else await import('./demo.js');
