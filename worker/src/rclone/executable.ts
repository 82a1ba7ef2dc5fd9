/**
 * Finding a program the way `execvp` would, without running it: the worker checks that rclone
 * is there before it starts (a missing binary is a configuration problem, not a crash to
 * restart), and looks for `setpriv` to tie rclone's life to its own.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * The absolute path of `program`: itself when it contains a slash, else the first executable
 * regular file of that name on `searchPath` (an empty entry is the current directory, as for
 * execvp). Undefined when there is none.
 */
export async function findExecutable(program: string, searchPath: string = process.env.PATH ?? ''): Promise<string | undefined> {
  if (program === '') return undefined;
  if (program.includes('/')) return (await isExecutableFile(program)) ? resolve(program) : undefined;
  for (const dir of searchPath.split(delimiter)) {
    const candidate = join(dir === '' ? '.' : dir, program);
    if (await isExecutableFile(candidate)) return isAbsolute(candidate) ? candidate : resolve(candidate);
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
