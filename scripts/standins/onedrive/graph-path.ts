/**
 * Reads a Microsoft Graph v1.0 request path into what it addresses. Items are addressed by id
 * or from the root, optionally followed by a path in colons and an action:
 *
 *   /v1.0/drives/{drive}/items/{id}                       the item
 *   /v1.0/drives/{drive}/items/{id}:                      the same (rclone, empty relative path)
 *   /v1.0/drives/{drive}/items/{id}:/a/b.bin:             a path below it (also without the closing colon)
 *   /v1.0/drives/{drive}/items/{id}:/b.bin:/createUploadSession | /content | /children
 *   /v1.0/drives/{drive}/root[…], /v1.0/me/drive/root[…], /v1.0/me/drive/items/{id}[…]
 *
 * Names arrive percent-encoded and are decoded per segment; OneDrive forbids `:` in names
 * (rclone encodes it), so the first colon after `:/` closes the path.
 */

export type ItemAction = '' | 'children' | 'content' | 'createUploadSession' | 'copy';

export type GraphAddress =
  | { kind: 'me' }
  | { kind: 'drives' }
  /** `driveId` undefined = `me/drive`. */
  | { kind: 'drive'; driveId: string | undefined }
  | { kind: 'item'; driveId: string | undefined; base: { root: true } | { id: string }; path: string[]; action: ItemAction };

const ACTIONS = new Set<string>(['children', 'content', 'createUploadSession', 'copy']);

export function parseGraphPath(pathname: string): GraphAddress | undefined {
  const match = /^\/v1\.0\/(me\/drive|drives\/([^/]+))(.*)$/.exec(pathname);
  if (!match) {
    if (pathname === '/v1.0/me') return { kind: 'me' };
    if (pathname === '/v1.0/me/drives') return { kind: 'drives' };
    return undefined;
  }
  const driveId = match[2] === undefined ? undefined : decode(match[2]);
  if (match[2] !== undefined && driveId === undefined) return undefined;
  const rest = match[3]!;
  if (rest === '' || rest === '/') return { kind: 'drive', driveId };
  const base = /^\/root(.*)$/.exec(rest) ?? /^\/items\/([^/:]+)(.*)$/.exec(rest);
  if (!base) return undefined;
  const isRoot = rest.startsWith('/root');
  const id = isRoot ? undefined : decode(base[1]!);
  if (!isRoot && id === undefined) return undefined;
  const tail = parseTail(isRoot ? base[1]! : base[2]!);
  if (!tail) return undefined;
  return { kind: 'item', driveId, base: id === undefined ? { root: true } : { id }, ...tail };
}

function parseTail(tail: string): { path: string[]; action: ItemAction } | undefined {
  let rawPath = '';
  let after = tail;
  if (tail.startsWith(':')) {
    const inner = tail.slice(1);
    if (inner.startsWith('/')) {
      const close = inner.indexOf(':');
      rawPath = close < 0 ? inner : inner.slice(0, close);
      after = close < 0 ? '' : inner.slice(close + 1);
    } else {
      after = inner;
    }
  }
  const action = after.replace(/^\/+|\/+$/g, '');
  if (action !== '' && !ACTIONS.has(action)) return undefined;
  const path: string[] = [];
  for (const segment of rawPath.split('/').filter((part) => part !== '')) {
    const name = decode(segment);
    if (name === undefined) return undefined;
    path.push(name);
  }
  return { path, action: action as ItemAction };
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
