import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { WorkerError } from '../../src/errors.js';
import { obscure, reveal } from '../../src/rclone/obscure.js';

const RCLONE = '/usr/bin/rclone';
const TEST_VALUES = ['potato', 'correct horse battery staple', 'Pässwörd-ñ-日本語-🔑', 'with spaces and "quotes" and \\ backslash', 'x'];

describe('obscure', () => {
  it.each([
    ['', 'aaaaaaaaaaaaaaaa', 'YWFhYWFhYWFhYWFhYWFhYQ'],
    ['potato', 'aaaaaaaaaaaaaaaa', 'YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ'],
    ['potato', 'bbbbbbbbbbbbbbbb', 'YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw'],
  ])('reproduces rclone test vector %j with IV %s', (plain, iv, expected) => {
    expect(obscure(plain, Buffer.from(iv))).toBe(expected);
    expect(reveal(expected)).toBe(plain);
  });

  it('uses a fresh random IV each time', () => {
    const first = obscure('potato');
    const second = obscure('potato');
    expect(first).not.toBe(second);
    expect(reveal(first)).toBe('potato');
    expect(reveal(second)).toBe('potato');
  });

  it('refuses an IV that is not 16 bytes', () => {
    expect(() => obscure('potato', Buffer.alloc(8))).toThrow(RangeError);
  });
});

describe('reveal', () => {
  it.each([
    ['bad base64 characters', 'YWFh*YWFh'],
    ['padding, which rclone does not accept', 'YWFhYWFhYWFhYWFhYWFhYQ=='],
    ['an impossible base64 length', 'YWFhYWFhYWFhYWFhYWFhYWFha'],
    ['too short for an IV', 'YWFhYWFh'],
    ['the empty string', ''],
  ])('throws WORKER_ERR_OBSCURED for %s', (_what, input) => {
    let caught: unknown;
    try {
      reveal(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WorkerError);
    expect((caught as WorkerError).code).toBe('WORKER_ERR_OBSCURED');
  });

  it('does not repeat the input in its error', () => {
    expect(() => reveal('secret*value')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('secret') as string }) as Error);
  });
});

describe('compatibility with the rclone binary', () => {
  // An obscured value is base64url, so it starts with '-' whenever the IV's first byte is 0xF8–0xFB
  // (1 time in 64); `--` keeps rclone from reading such a value as a flag.
  const rcloneReveal = (obscured: string) => execa(RCLONE, ['reveal', '--', obscured], { env: { RCLONE_CONFIG: '/dev/null' } });

  it.each(TEST_VALUES)('rclone reveals our obscure(%j)', async (plain) => {
    const { stdout } = await rcloneReveal(obscure(plain));
    expect(stdout).toBe(plain);
  });

  it('rclone reveals an obscured value that starts with "-"', async () => {
    const obscured = obscure('potato', Buffer.alloc(16, 0xf8));
    expect(obscured.startsWith('-')).toBe(true);
    const { stdout } = await rcloneReveal(obscured);
    expect(stdout).toBe('potato');
  });

  it.each(TEST_VALUES)('we reveal `rclone obscure -` of %j', async (plain) => {
    const { stdout } = await execa(RCLONE, ['obscure', '-'], { input: plain, env: { RCLONE_CONFIG: '/dev/null' } });
    expect(stdout).not.toBe(plain);
    expect(reveal(stdout)).toBe(plain);
  });
});
