/**
 * The two little languages of the Drive stand-in on their own: the `q` subset rclone sends
 * (escapes, `and` over `or`, the `--fast-list` form with many parents) and partial-response
 * `fields` selections.
 */
import { describe, expect, it } from 'vitest';
import { DriveError } from '../standins/gdrive/drive-errors.js';
import { DriveStore, FOLDER_MIME_TYPE } from '../standins/gdrive/drive-store.js';
import { applyFields, parseFields } from '../standins/gdrive/fields.js';
import { compileQuery } from '../standins/gdrive/query.js';
import { FILE_LIST_SCHEMA } from '../standins/gdrive/resources.js';

function driveWith(names: string[]): { store: DriveStore; names: (q: string) => string[]; folder: string } {
  const store = new DriveStore();
  const folder = store.create({ name: 'f', mimeType: FOLDER_MIME_TYPE }).id;
  for (const name of names) store.create({ name, mimeType: 'application/octet-stream', parent: folder, data: Buffer.from(name) });
  return {
    store,
    folder,
    names: (q) => {
      const filter = compileQuery(q);
      return store.list((file) => filter(file, store), 1000, undefined).files.map((file) => file.name);
    },
  };
}

function refusal(action: () => unknown): DriveError {
  try {
    action();
  } catch (err) {
    if (err instanceof DriveError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('Drive query subset', () => {
  it('unescapes quotes and backslashes in names, as rclone escapes them', () => {
    const { names, folder } = driveWith([`it's`, 'back\\slash', 'plain']);
    expect(names(`trashed=false and ('${folder}' in parents) and (name='it\\'s')`)).toEqual([`it's`]);
    expect(names(`name='back\\\\slash'`)).toEqual(['back\\slash']);
  });

  it('binds and tighter than or, honours parentheses and !=, and takes several parents (--fast-list)', () => {
    const { store, names, folder } = driveWith(['a', 'b']);
    const other = store.create({ name: 'g', mimeType: FOLDER_MIME_TYPE }).id;
    store.create({ name: 'c', mimeType: 'text/plain', parent: other, data: Buffer.from('c') });
    expect(names(`name='a' or name='b' and mimeType='text/plain'`)).toEqual(['a']);
    expect(names(`(name='a' or name='b') and mimeType!='text/plain'`)).toEqual(['a', 'b']);
    expect(names(`trashed=false and ('${folder}' in parents or '${other}' in parents) and mimeType!='${FOLDER_MIME_TYPE}'`)).toEqual(['a', 'b', 'c']);
    expect(names(`mimeType='${FOLDER_MIME_TYPE}' AND trashed != true`)).toEqual(['f', 'g']);
  });

  it('refuses what it does not model, naming it', () => {
    for (const [q, named] of [
      [`modifiedTime > '2020-01-01'`, `modifiedTime > '2020-01-01'`],
      [`'x' in owners`, `owners`],
      [`name='a' and`, 'query ends early'],
      [`name='a`, 'unterminated string'],
      [`name='a' name='b'`, `name='b'`],
      [`trashed=maybe`, 'trashed=maybe'],
    ] as const) {
      const error = refusal(() => compileQuery(q));
      expect(error.status, q).toBe(400);
      expect(error.message, q).toContain(named);
    }
  });
});

describe('fields selections', () => {
  const list = { kind: 'drive#fileList', nextPageToken: 't', files: [{ id: '1', name: 'n', owners: [{ emailAddress: 'e', displayName: 'd' }] }] };

  it('projects nested and slash selections, merges repeats, and * selects a whole level', () => {
    expect(applyFields(list, parseFields('files(id),files(owners/displayName)', FILE_LIST_SCHEMA))).toEqual({ files: [{ id: '1', owners: [{ displayName: 'd' }] }] });
    expect(applyFields(list, parseFields('files/name,nextPageToken', FILE_LIST_SCHEMA))).toEqual({ nextPageToken: 't', files: [{ name: 'n' }] });
    expect(applyFields(list, parseFields('files,files(id)', FILE_LIST_SCHEMA))).toEqual({ files: list.files });
    expect(applyFields(list, parseFields('*', FILE_LIST_SCHEMA))).toEqual(list);
  });

  it('refuses unknown fields, sub-selections of leaves and malformed selections', () => {
    for (const spec of ['files(colour)', 'kind(x)', 'files(id', 'files)', 'files,,id']) {
      const error = refusal(() => parseFields(spec, FILE_LIST_SCHEMA));
      expect(error.reason, spec).toBe('invalidParameter');
    }
  });
});
