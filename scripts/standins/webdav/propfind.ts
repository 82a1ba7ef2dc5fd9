/**
 * PROPFIND as Nextcloud answers it: which properties a request asks for, and the 207
 * multistatus body with one `<d:response>` per resource — a 200 propstat for the properties the
 * resource has and a 404 propstat for the ones it does not (e.g. `getcontentlength` of a
 * collection). rclone's nextcloud vendor reads modification time, size, type and
 * `oc:checksums` (`SHA1:<hex> MD5:<hex>`) from here; `rclone about` reads the quota properties.
 */
import { davErrors } from './dav-error.js';
import { isWithin, type DavResource, type FileTree } from './file-tree.js';
import { childElement, escapeXml, parseXml } from './xml.js';

export const DAV_NS = 'DAV:';
export const OC_NS = 'http://owncloud.org/ns';
export const NC_NS = 'http://nextcloud.org/ns';

/** What a user's storage is said to hold in total, for the quota properties. */
const QUOTA_BYTES = 100 * 1024 ** 3;

export interface PropName {
  namespace: string;
  localName: string;
}

/** `allprop` (also an empty body) or an explicit list of properties. */
export type PropfindRequest = { kind: 'allprop' } | { kind: 'prop'; names: PropName[] };

/** One resource of a multistatus answer. */
export interface PropfindEntry {
  href: string;
  resource: DavResource;
  /** The resource's path in `tree`, for properties computed over a subtree (sizes, quota). */
  path: string;
  tree: FileTree;
  owner: string;
}

type PropRenderer = (entry: PropfindEntry) => string | undefined;

function subtreeBytes(tree: FileTree, path: string): number {
  let total = 0;
  for (const [candidate, data] of tree.files()) if (isWithin(candidate, path)) total += data.length;
  return total;
}

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain',
  json: 'application/json',
  bin: 'application/octet-stream',
  jpg: 'image/jpeg',
  png: 'image/png',
  pdf: 'application/pdf',
};

function contentType(path: string): string {
  const dot = path.lastIndexOf('.');
  return (dot >= 0 && CONTENT_TYPES[path.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

/** The properties the stand-in knows, keyed by `{namespace}localName`, rendered as inner XML. */
const PROPERTIES = new Map<string, PropRenderer>([
  [`{${DAV_NS}}displayname`, ({ path }) => escapeXml(path.slice(path.lastIndexOf('/') + 1))],
  [`{${DAV_NS}}getlastmodified`, ({ resource }) => resource.modified.toUTCString()],
  [`{${DAV_NS}}getetag`, ({ resource }) => `&quot;${resource.etag}&quot;`],
  [`{${DAV_NS}}resourcetype`, ({ resource }) => (resource.kind === 'collection' ? '<d:collection/>' : '')],
  [`{${DAV_NS}}getcontentlength`, ({ resource }) => (resource.kind === 'file' ? String(resource.data.length) : undefined)],
  [`{${DAV_NS}}getcontenttype`, ({ resource, path }) => (resource.kind === 'file' ? contentType(path) : undefined)],
  [`{${DAV_NS}}quota-used-bytes`, ({ resource, tree, path }) => (resource.kind === 'collection' ? String(subtreeBytes(tree, path)) : undefined)],
  [
    `{${DAV_NS}}quota-available-bytes`,
    ({ resource, tree }) => (resource.kind === 'collection' ? String(QUOTA_BYTES - subtreeBytes(tree, '')) : undefined),
  ],
  [
    `{${OC_NS}}checksums`,
    ({ resource }) => (resource.kind === 'file' ? `<oc:checksum>SHA1:${resource.sha1} MD5:${resource.md5}</oc:checksum>` : undefined),
  ],
  [`{${OC_NS}}permissions`, ({ resource }) => (resource.kind === 'file' ? 'RGDNVW' : 'RGDNVCK')],
  [`{${OC_NS}}fileid`, ({ resource }) => String(resource.fileId)],
  [`{${OC_NS}}size`, ({ resource, tree, path }) => String(resource.kind === 'file' ? resource.data.length : subtreeBytes(tree, path))],
  [`{${OC_NS}}owner-id`, ({ owner }) => escapeXml(owner)],
]);

/** The properties an `allprop` request gets: the DAV: ones, as sabre/dav does. */
const ALLPROP_NAMES: PropName[] = [...PROPERTIES.keys()]
  .filter((key) => key.startsWith(`{${DAV_NS}}`))
  .map((key) => ({ namespace: DAV_NS, localName: key.slice(DAV_NS.length + 2) }));

/** Reads a PROPFIND body; an empty body means `allprop` (RFC 4918 §9.1). */
export function parsePropfindRequest(body: Buffer): PropfindRequest {
  const text = body.toString('utf8').trim();
  if (text === '') return { kind: 'allprop' };
  let root;
  try {
    root = parseXml(text);
  } catch (error) {
    throw davErrors.badRequest(`The request body is not valid XML: ${String(error)}`);
  }
  if (root.namespace !== DAV_NS || root.localName !== 'propfind') throw davErrors.badRequest('The root element must be {DAV:}propfind');
  const prop = childElement(root, DAV_NS, 'prop');
  if (prop) return { kind: 'prop', names: prop.children.map(({ namespace, localName }) => ({ namespace, localName })) };
  if (childElement(root, DAV_NS, 'allprop')) return { kind: 'allprop' };
  throw davErrors.notImplemented('Only {DAV:}prop and {DAV:}allprop are supported');
}

const PREFIXES = new Map([
  [DAV_NS, 'd'],
  [OC_NS, 'oc'],
  [NC_NS, 'nc'],
]);

/** `<prefix:name>value</prefix:name>`, declaring the namespace inline when it has no fixed prefix. */
function propElement({ namespace, localName }: PropName, value: string): string {
  const prefix = PREFIXES.get(namespace);
  const open = prefix ? `${prefix}:${localName}` : `x:${localName} xmlns:x="${escapeXml(namespace)}"`;
  const close = prefix ? `${prefix}:${localName}` : `x:${localName}`;
  return value === '' ? `<${open}/>` : `<${open}>${value}</${close}>`;
}

function propstat(elements: string[], status: string): string {
  return `<d:propstat><d:prop>${elements.join('')}</d:prop><d:status>HTTP/1.1 ${status}</d:status></d:propstat>`;
}

function renderResponse(entry: PropfindEntry, request: PropfindRequest): string {
  const names = request.kind === 'allprop' ? ALLPROP_NAMES : request.names;
  const found: string[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const value = PROPERTIES.get(`{${name.namespace}}${name.localName}`)?.(entry);
    if (value === undefined) {
      if (request.kind === 'prop') missing.push(propElement(name, ''));
    } else {
      found.push(propElement(name, value));
    }
  }
  const stats = [found.length > 0 ? propstat(found, '200 OK') : '', missing.length > 0 ? propstat(missing, '404 Not Found') : ''];
  return `<d:response><d:href>${escapeXml(entry.href)}</d:href>${stats.join('')}</d:response>`;
}

/** The 207 body for `entries`. */
export function renderMultistatus(entries: PropfindEntry[], request: PropfindRequest): string {
  const namespaces = [...PREFIXES].map(([namespace, prefix]) => `xmlns:${prefix}="${namespace}"`).join(' ');
  return (
    '<?xml version="1.0"?>\n' +
    `<d:multistatus ${namespaces} xmlns:s="http://sabredav.org/ns">` +
    entries.map((entry) => renderResponse(entry, request)).join('') +
    '</d:multistatus>\n'
  );
}
