/**
 * What the Drive API needs from the OAuth side, and no more: a bearer check that counts the
 * request and says whether its token is good right now. The shared provider OAuth
 * (`../oauth/provider-oauth.ts`) is one; tests of the API can pass any other.
 */
import type { IncomingMessage } from 'node:http';
import type { AccessTokenState } from '../oauth/authority.js';

export type { AccessTokenState } from '../oauth/authority.js';

export interface BearerCheck {
  /** Counts the API request (`call` names it in the 401 counters) and checks its bearer token, without answering. */
  check(req: IncomingMessage, call: string): AccessTokenState;
}
