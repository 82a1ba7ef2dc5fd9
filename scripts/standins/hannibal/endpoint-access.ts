/**
 * Hannibal's endpoint access map (`_gatherEndpointAccess`, research/anchor-backer.md §4.5): the
 * storage trees that running jobs read and write, and the overlap test that keeps a new job from
 * reading a tree being written, or writing a tree in use.
 */

/** A path on a storage, as an endpoint names it. */
export interface EndpointLocation {
  storageId: number;
  path: string;
}

/**
 * The path in the form Hannibal keys its map with: one leading and one trailing `/`, no empty
 * segments. The trailing `/` is what keeps `usr/lib` from matching `usr/library`.
 */
export function normaliseEndpointPath(path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '');
  return segments.length === 0 ? '/' : `/${segments.join('/')}/`;
}

/** Two locations overlap when they are on the same storage and one path contains the other. */
export function overlaps(a: EndpointLocation, b: EndpointLocation): boolean {
  if (a.storageId !== b.storageId) return false;
  const pathA = normaliseEndpointPath(a.path);
  const pathB = normaliseEndpointPath(b.path);
  return pathA.startsWith(pathB) || pathB.startsWith(pathA);
}

/** What the running jobs read (their sources) and write (their destinations). */
export class EndpointAccess {
  private readonly read: EndpointLocation[] = [];
  private readonly written: EndpointLocation[] = [];

  addRunningJob(source: EndpointLocation, destination: EndpointLocation): void {
    this.read.push(source);
    this.written.push(destination);
  }

  /** A job may read `source` unless a running job writes an overlapping tree. */
  allowsSource(source: EndpointLocation): boolean {
    return !this.written.some((location) => overlaps(location, source));
  }

  /** A job may write `destination` only if no running job reads or writes an overlapping tree. */
  allowsDestination(destination: EndpointLocation): boolean {
    return ![...this.read, ...this.written].some((location) => overlaps(location, destination));
  }
}
