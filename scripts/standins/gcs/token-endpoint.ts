/**
 * `POST /token`: Google's OAuth2 token endpoint as far as refreshing goes (RFC 6749 §6), with
 * Google's error bodies, client authentication in the form body or by HTTP Basic, injectable
 * faults (status, timeout, connection reset) and an entry in the token log for every request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { basicCredentials, readBody, sendJson } from '../http-util.js';
import type { GcsStandinStats, TokenLogEntry } from './stats.js';
import { GRANTED_SCOPE, type TokenAuthority } from './token-authority.js';

export type TokenEndpointFault =
  /** Answer every token request with this status (e.g. 503, 429 with Retry-After, 502 HTML). */
  | { kind: 'status'; status: number; body?: string; contentType?: string; retryAfterSeconds?: number }
  /** Accept the request and never answer while the fault lasts; answered normally once cleared. */
  | { kind: 'timeout' }
  /** Destroy the socket. */
  | { kind: 'reset' };

/** Status recorded for a request that got no HTTP answer (reset, or abandoned while held). */
const NO_ANSWER = 0;

const MAX_FORM_BYTES = 64 * 1024;

interface ClientCredentials {
  clientId: string;
  clientSecret: string | undefined;
}

export class TokenEndpoint {
  #fault: TokenEndpointFault | null = null;
  #closing = false;
  /** Settles when the fault changes or the server closes: wakes requests held by a timeout fault. */
  #faultChange = wakeSignal();

  constructor(
    private readonly authority: TokenAuthority,
    private readonly stats: GcsStandinStats,
    private readonly log: TokenLogEntry[],
  ) {}

  setFault(fault: TokenEndpointFault | null): void {
    this.#fault = fault;
    this.#wakeHeldRequests();
  }

  /** Lets held requests go (they are dropped without an answer). */
  close(): void {
    this.#closing = true;
    this.#wakeHeldRequests();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'invalid_request', error_description: 'Only POST is supported.' }, { allow: 'POST' });
      return;
    }
    const userAgent = req.headers['user-agent'] ?? '';
    this.stats.tokenRequests++;
    if (userAgent.startsWith('rclone/')) this.stats.tokenRequestsByRclone++;
    const at = Date.now();
    const form = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8'));
    const client = clientCredentials(req, form);
    const status = await this.#answer(req, res, form, client);
    if (status === 200) this.stats.tokenSuccesses++;
    else this.stats.tokenFailures++;
    this.log.push({
      at,
      userAgent,
      grantType: form.get('grant_type') ?? '',
      clientId: client?.clientId ?? '',
      status,
      refreshTokenFingerprint: fingerprint(form.get('refresh_token')),
    });
  }

  /** Answers one token request; returns the HTTP status sent, or NO_ANSWER. */
  async #answer(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, client: ClientCredentials | undefined): Promise<number> {
    const connection = { closed: false };
    const closed = new Promise<void>((resolve) => {
      res.once('close', () => {
        connection.closed = true;
        resolve();
      });
    });
    while (this.#fault?.kind === 'timeout' && !this.#closing && !connection.closed) {
      await Promise.race([this.#faultChange.promise, closed]);
    }
    if (this.#closing || connection.closed) {
      req.socket.destroy();
      return NO_ANSWER;
    }
    const fault = this.#fault;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return NO_ANSWER;
    }
    if (fault?.kind === 'status') return sendFault(res, fault);
    return this.#exchange(req, res, form, client);
  }

  #exchange(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, client: ClientCredentials | undefined): number {
    if (!req.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return sendOAuthError(res, 400, 'invalid_request', 'Bad Request');
    }
    if (!client) return sendOAuthError(res, 400, 'invalid_request', 'Could not determine client ID from request.');
    switch (this.authority.checkClient(client.clientId, client.clientSecret)) {
      case 'unknownClient':
        return sendOAuthError(res, 401, 'invalid_client', 'The OAuth client was not found.');
      case 'wrongSecret':
        return sendOAuthError(res, 401, 'invalid_client', 'Unauthorized');
      case 'ok':
        break;
    }
    const grantType = form.get('grant_type');
    if (grantType !== 'refresh_token') return sendOAuthError(res, 400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return sendOAuthError(res, 400, 'invalid_request', 'Missing required parameter: refresh_token');
    const outcome = this.authority.refresh(refreshToken, client.clientId);
    if (!outcome.ok) {
      return outcome.error === 'invalidGrant'
        ? sendOAuthError(res, 400, 'invalid_grant', 'Token has been expired or revoked.')
        : sendOAuthError(res, 401, 'unauthorized_client', 'Unauthorized');
    }
    sendJson(
      res,
      200,
      {
        access_token: outcome.accessToken,
        expires_in: outcome.expiresInSeconds,
        scope: GRANTED_SCOPE,
        token_type: 'Bearer',
        ...(outcome.rotatedRefreshToken === undefined ? {} : { refresh_token: outcome.rotatedRefreshToken }),
      },
      NO_STORE,
    );
    return 200;
  }

  #wakeHeldRequests(): void {
    const previous = this.#faultChange;
    this.#faultChange = wakeSignal();
    previous.resolve();
  }
}

/** A promise plus its resolver (Node 20 has no `Promise.withResolvers`). */
function wakeSignal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

const NO_STORE = { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' };

function sendOAuthError(res: ServerResponse, status: number, error: string, description: string): number {
  sendJson(res, status, { error, error_description: description }, NO_STORE);
  return status;
}

function sendFault(res: ServerResponse, fault: Extract<TokenEndpointFault, { kind: 'status' }>): number {
  const body = fault.body ?? JSON.stringify({ error: 'server_error', error_description: `stand-in fault: HTTP ${fault.status}` });
  const headers: Record<string, string> = {
    'content-type': fault.contentType ?? 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
  res.writeHead(fault.status, headers);
  res.end(body);
  return fault.status;
}

/**
 * Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-encoded, then base64) or, failing
 * that, from the `client_id` / `client_secret` form fields.
 */
function clientCredentials(req: IncomingMessage, form: URLSearchParams): ClientCredentials | undefined {
  const basic = basicCredentials(req);
  if (basic) return { clientId: formDecode(basic.user), clientSecret: formDecode(basic.password) };
  const clientId = form.get('client_id');
  if (!clientId) return undefined;
  return { clientId, clientSecret: form.get('client_secret') ?? undefined };
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}
