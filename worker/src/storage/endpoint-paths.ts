/**
 * The rclone path of a hub endpoint, `<remote>:<path>` — the one place a job's rclone paths are
 * built, so the one place that decides what a hub account can make rclone open.
 *
 * What an rclone path string can express (rclone 1.60.1; the e2e test local-confinement
 * checks the last point with the real rclone): `/abs` without a prefix and `:local:/abs`
 * are the local disk; `name,key=value:path` and `:backend,key=value:path` are connection
 * strings that override or invent a remote; but everything after the *first* colon is the path
 * on that remote, so `nc:other:/etc` and `nc:,type=local:/etc` are WebDAV paths on `nc`, never
 * the local disk. The remote name is the storage's `uriSchema`, validated as an rclone remote
 * name (no `:`, `,` or `=`), so no endpoint can name another remote or an on-the-fly backend;
 * and the path of a `local` storage is confined to the operator's roots (local-roots.ts).
 */
import type { Storage } from '../../../shared/hannibal.js';
import { StorageError } from '../errors.js';
import type { EndpointSide, LocalRoots } from './local-roots.js';
import { validateRemoteName } from './remote-spec.js';

/** Longer endpoint paths are refused (PATH_MAX on Linux). */
const MAX_PATH_LENGTH = 4096;

export class EndpointPaths {
  constructor(private readonly roots: Pick<LocalRoots, 'confine'>) {}

  /**
   * `<uriSchema>:<path>` for rclone. Local paths are absolute and confined (a `LocalPathError`
   * when refused); for the other technologies leading slashes are dropped (for gcs the first
   * segment is the bucket, rclone's own convention).
   */
  async fsPath(storage: Pick<Storage, 'uriSchema' | 'technology'>, path: unknown, side: EndpointSide): Promise<string> {
    validateRemoteName(storage.uriSchema);
    if (typeof path !== 'string') throw new StorageError(`${side} path is not a string`, storage.uriSchema);
    if (path.length > MAX_PATH_LENGTH) throw new StorageError(`${side} path is longer than ${MAX_PATH_LENGTH} characters`, storage.uriSchema);
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    if (/[\u0000-\u001f\u007f]/.test(path)) throw new StorageError(`${side} path contains a control character`, storage.uriSchema);
    const trimmed = path.trim();
    if (storage.technology.toLowerCase() === 'local') return `${storage.uriSchema}:${await this.roots.confine(trimmed, side)}`;
    return `${storage.uriSchema}:${trimmed.replace(/^\/+/, '')}`;
  }
}
