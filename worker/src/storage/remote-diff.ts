/**
 * Semantic comparison of the remote a storage should be with what the running rclone has
 * (`config/dump`): token JSON by content, obscured passwords by their revealed value (the
 * obscured form carries a random IV), key order and formatting ignored.
 */
import { reveal } from '../rclone/obscure.js';
import type { RemoteSpec } from './remote-spec.js';

export type RemoteDiff =
  | { kind: 'missing' }
  | { kind: 'equal' }
  /** Only the OAuth access token differs: can be pushed into the running rclone. */
  | { kind: 'token-only' }
  /** Anything else differs; `keys` names them (never their values). */
  | { kind: 'params'; keys: string[] };

/** Keys that only steer `config/create` and are never stored. */
const TRANSIENT_KEYS = new Set(['config_refresh_token']);

export function diffRemote(desired: RemoteSpec, actual: Readonly<Record<string, string>> | undefined): RemoteDiff {
  if (!actual) return { kind: 'missing' };
  const changed: string[] = [];
  if (actual.type !== desired.type) changed.push('type');
  const keys = new Set([...Object.keys(desired.parameters), ...Object.keys(actual)]);
  keys.delete('type');
  for (const key of keys) {
    if (TRANSIENT_KEYS.has(key)) continue;
    const want = desired.parameters[key];
    const have = actual[key];
    if (!sameValue(key, want, have, desired)) changed.push(key);
  }
  if (changed.length === 0) return { kind: 'equal' };
  if (changed.length === 1 && changed[0] === 'token') return { kind: 'token-only' };
  return { kind: 'params', keys: changed.sort() };
}

function sameValue(key: string, want: string | undefined, have: string | undefined, desired: RemoteSpec): boolean {
  if (want === undefined || have === undefined) return want === have;
  if (key === 'token') return sameToken(want, have);
  if (desired.obscuredKeys.includes(key)) return revealOrSelf(want) === revealOrSelf(have);
  return want === have;
}

function revealOrSelf(value: string): string {
  try {
    return reveal(value);
  } catch {
    return value;
  }
}

/** Same access token, same token type (case-insensitive), same expiry instant. */
export function sameToken(a: string, b: string): boolean {
  const ta = parseToken(a);
  const tb = parseToken(b);
  if (!ta || !tb) return a === b;
  return (
    ta.access_token === tb.access_token &&
    ta.token_type.toLowerCase() === tb.token_type.toLowerCase() &&
    ta.expiry === tb.expiry &&
    ta.refresh_token === tb.refresh_token
  );
}

function parseToken(text: string): { access_token: string; token_type: string; expiry: number; refresh_token: string } | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const expiry = typeof parsed.expiry === 'string' ? Date.parse(parsed.expiry) : NaN;
    return {
      access_token: typeof parsed.access_token === 'string' ? parsed.access_token : '',
      token_type: typeof parsed.token_type === 'string' ? parsed.token_type : '',
      expiry: Number.isNaN(expiry) ? 0 : expiry,
      refresh_token: typeof parsed.refresh_token === 'string' ? parsed.refresh_token : '',
    };
  } catch {
    return undefined;
  }
}
