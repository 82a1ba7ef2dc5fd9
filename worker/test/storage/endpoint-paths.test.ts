import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { EndpointPaths } from '../../src/storage/endpoint-paths.js';
import { LocalPathError } from '../../src/storage/local-roots.js';

/** Roots that accept `/srv/...` only, and record what they were asked. */
const asked: string[] = [];
const paths = new EndpointPaths({
  confine: async (path, side) => {
    asked.push(path);
    if (!path.startsWith('/srv/')) throw new LocalPathError(`${side} path ${JSON.stringify(path)} refused: outside`);
    return path;
  },
});

describe('EndpointPaths.fsPath', () => {
  it('local paths go through the roots; other paths are relative to the remote root (gcs: bucket first)', async () => {
    expect(await paths.fsPath({ technology: 'local', uriSchema: 'disk' }, '  /srv/data  ', 'source')).toBe('disk:/srv/data');
    expect(asked.at(-1)).toBe('/srv/data');
    expect(await paths.fsPath({ technology: 'Local', uriSchema: 'disk' }, '/srv/', 'destination')).toBe('disk:/srv/');
    expect(await paths.fsPath({ technology: 'gcs', uriSchema: 'g' }, '/my-bucket/photos/2024', 'source')).toBe('g:my-bucket/photos/2024');
    expect(await paths.fsPath({ technology: 'nextcloud', uriSchema: 'nc' }, '//Documents/', 'source')).toBe('nc:Documents/');
    expect(await paths.fsPath({ technology: 'onedrive', uriSchema: 'od' }, '/', 'source')).toBe('od:');
  });

  it('a local path naming another remote or a backend is refused by the roots, never opened', async () => {
    await expect(paths.fsPath({ technology: 'local', uriSchema: 'disk' }, 'nc:/Documents', 'source')).rejects.toBeInstanceOf(LocalPathError);
    await expect(paths.fsPath({ technology: 'local', uriSchema: 'disk' }, ':local:/etc', 'destination')).rejects.toBeInstanceOf(LocalPathError);
    await expect(paths.fsPath({ technology: 'local', uriSchema: 'disk' }, 'srv/data', 'source')).rejects.toBeInstanceOf(LocalPathError);
  });

  it('a remote name that is not a plain name, a non-text, overlong or control-character path is a StorageError', async () => {
    for (const uriSchema of ['nc,type=local', ':local', 'a:b', 'x=y']) {
      await expect(paths.fsPath({ technology: 'nextcloud', uriSchema }, 'x', 'source')).rejects.toBeInstanceOf(StorageError);
    }
    await expect(paths.fsPath({ technology: 'nextcloud', uriSchema: 'nc' }, 42, 'source')).rejects.toThrow('source path is not a string');
    await expect(paths.fsPath({ technology: 'nextcloud', uriSchema: 'nc' }, 'a'.repeat(5000), 'source')).rejects.toThrow('longer than 4096');
    await expect(paths.fsPath({ technology: 'nextcloud', uriSchema: 'nc' }, 'a\nb', 'destination')).rejects.toThrow('destination path contains a control character');
  });
});
