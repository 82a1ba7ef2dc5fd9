/**
 * Where `local` storages may read and write on this host (issue 9.6). A hub account chooses the
 * paths of its endpoints; without a fence it could make the worker copy `/etc` to its cloud or
 * sync an empty folder over `/home`. So every local endpoint path must lie inside one of the
 * operator's roots (`WORKER_LOCAL_ROOTS`), and the worker's own state directory (rclone.conf with
 * access tokens, the grant journal with refresh tokens, the control token) is never reachable,
 * not even through a root that contains it.
 *
 * A path is refused when it is not absolute, contains `..` or a NUL, lies outside every root,
 * overlaps the state directory, or when any existing component from its root down is a symbolic
 * link: rclone follows a symlinked endpoint root (measured with 1.60.1), so a link inside a root
 * would be a door out of it. A destination that does not exist yet is judged by the part that
 * does (rclone creates the rest, as real directories). A root that is itself a symlink is
 * unusable — whoever controls its parent could re-point it — and is reported at start. Roots are
 * resolved again at every check, so a root swapped for a symlink after the start is caught too.
 *
 * The job runner checks when a job's run is prepared and again right before rclone is given the
 * paths, and rclone gets the resolved path. What stays open is the few milliseconds between that
 * last check and rclone opening the path, and symlinks a local user plants *inside* a destination
 * tree, which rclone follows when it writes (it skips them when it reads): roots must be writable
 * only by the worker's user and people it trusts. A hub account cannot create symlinks: rclone
 * does not copy them without `--links`.
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { WorkerError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** The one directory of the state directory that may be a root (and is the default root). */
export const STATE_LOCAL_ROOT = 'local';

/** A local endpoint path the worker refuses to hand to rclone; terminal for the job. */
export class LocalPathError extends WorkerError {
  constructor(message: string) {
    super('WORKER_ERR_LOCAL_PATH', message, { permanent: true });
  }
}

export type EndpointSide = 'source' | 'destination';

export interface LocalRootsOptions {
  /** Absolute directories (`WORKER_LOCAL_ROOTS`); empty = local storages are refused. */
  roots: readonly string[];
  /** The worker's state directory: never reachable, whatever the roots. */
  stateDir: string;
  logger: Logger;
}

/** A root as resolved now: its real path, or why it cannot be used. */
type Resolved = { configured: string; real: string } | { configured: string; problem: string };

export class LocalRoots {
  private readonly log: Logger;
  private readonly roots: readonly string[];

  constructor(private readonly options: LocalRootsOptions) {
    this.log = options.logger.child({ component: 'local-roots' });
    this.roots = options.roots.map((root) => trimSlash(normalize(root)));
  }

  /**
   * At start: creates a default root that lives in the state directory (`<state>/local`), and
   * says in the log what local storages may use; a root that cannot be used is an error line.
   */
  async announce(): Promise<void> {
    for (const root of this.roots) {
      if (isWithin(root, this.options.stateDir)) await mkdir(root, { recursive: true, mode: 0o700 }).catch(() => undefined);
    }
    const state = await this.stateDir();
    const resolved = await Promise.all(this.roots.map((root) => this.resolve(root, state)));
    const usable = resolved.flatMap((r) => ('real' in r ? [r.real] : []));
    for (const r of resolved) if ('problem' in r) this.log.error({ root: r.configured, reason: r.problem }, 'local root unusable; local endpoints under it are refused');
    if (this.roots.length === 0) this.log.info('local storages are disabled (WORKER_LOCAL_ROOTS=none): every job on one is refused');
    else this.log.info({ roots: usable, excluded: this.options.stateDir }, 'local storages confined to these roots (the state directory excluded)');
  }

  /**
   * The path rclone should use for a local endpoint: `path` resolved inside its root. Throws a
   * {@link LocalPathError} saying why when the path is refused.
   */
  async confine(path: string, side: EndpointSide): Promise<string> {
    const refuse = (why: string): never => {
      throw new LocalPathError(`${side} path ${JSON.stringify(path)} refused: ${why}`);
    };
    if (path.includes('\0')) refuse('it contains a NUL character');
    if (!isAbsolute(path)) refuse('a local path must be absolute');
    if (path.split('/').includes('..')) refuse('it contains ".."');
    const lexical = trimSlash(normalize(path));
    const state = await this.stateDir();
    for (const root of this.roots) {
      const resolved = await this.resolve(root, state);
      const rel = relativeInside(lexical, root) ?? ('real' in resolved ? relativeInside(lexical, resolved.real) : undefined);
      if (rel === undefined) continue;
      if (!('real' in resolved)) return refuse(`its root ${root} is unusable: ${resolved.problem}`);
      const target = rel === '' ? resolved.real : join(resolved.real, rel);
      await this.checkBelow(resolved.real, rel, refuse);
      // A root inside the state directory (the default `<state>/local`) is a carve-out for local storages.
      if (!isWithin(resolved.real, state) && (isWithin(target, state) || isWithin(state, target))) refuse("it overlaps the worker's state directory");
      return target;
    }
    return refuse(this.roots.length === 0 ? 'local storages are disabled on this worker (WORKER_LOCAL_ROOTS)' : `it is outside the allowed roots (${this.roots.join(', ')})`);
  }

  /** No existing component below the root may be a symlink; a missing tail is fine. */
  private async checkBelow(real: string, rel: string, refuse: (why: string) => never): Promise<void> {
    let current = real;
    for (const segment of rel === '' ? [] : rel.split(sep)) {
      current = join(current, segment);
      try {
        const stats = await lstat(current);
        if (stats.isSymbolicLink()) refuse(`${current} is a symbolic link`);
      } catch (err) {
        if (err instanceof LocalPathError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        // Not there yet (rclone creates it, or reports it missing), or under a file (rclone reports it).
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        refuse(`${current} cannot be checked (${code ?? errorMessage(err)})`);
      }
    }
  }

  private stateDir(): Promise<string> {
    return realpath(this.options.stateDir).catch(() => this.options.stateDir);
  }

  private async resolve(configured: string, state: string): Promise<Resolved> {
    try {
      const stats = await lstat(configured);
      if (stats.isSymbolicLink()) return { configured, problem: 'it is a symbolic link (configure the directory it points to)' };
      if (!stats.isDirectory()) return { configured, problem: 'it is not a directory' };
      const real = await realpath(configured);
      // The worker's own files live beside `<state>/local`: no other root may reach into the state directory.
      if (isWithin(real, state) && !isWithin(real, join(state, STATE_LOCAL_ROOT))) return { configured, problem: `it is in the state directory, where only ${STATE_LOCAL_ROOT}/ may be a root` };
      return { configured, real };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { configured, problem: code === 'ENOENT' ? 'it does not exist' : (code ?? errorMessage(err)) };
    }
  }
}

/** `path` relative to `root` when it is the root or inside it ('' for the root itself). */
function relativeInside(path: string, root: string): string | undefined {
  const rel = relative(root, path);
  if (rel === '') return '';
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : rel;
}

function isWithin(path: string, dir: string): boolean {
  return relativeInside(path, dir) !== undefined;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
