/**
 * A provider's OAuth2 token endpoint as far as refreshing goes (RFC 6749 §6), in the
 * provider's dialect (error bodies, success body, token formats): client authentication in the
 * form body or by HTTP Basic, injectable faults (status, timeout, connection reset), and an
 * entry in the token log plus counters for every request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { basicCredentials, readBody, sendJson } from '../http-util.js';
import type { RefreshTokenInfo, TokenAuthority } from './authority.js';
import type { ProviderDialect, TokenProblem } from './dialects.js';
import { increment, type TokenLogEntry, type TokenStats } from './stats.js';

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

/** What one request came to: the HTTP status, and what the log and counters need. */
interface Answer {
  status: number;
  result: string;
  error?: string | undefined;
  info?: RefreshTokenInfo | undefined;
  issuedGeneration?: number | undefined;
}

export class TokenEndpoint {
  #fault: TokenEndpointFault | null = null;
  #closing = false;
  /** Settles when the fault changes or the server closes: wakes requests held by a timeout fault. */
  #faultChange = wakeSignal();

  constructor(
    private readonly authority: TokenAuthority,
    private readonly dialect: ProviderDialect,
    private readonly scope: string,
    private readonly stats: TokenStats,
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
      req.resume();
      this.#send(res, this.dialect.error({ kind: 'methodNotAllowed', method: req.method ?? '' }));
      return;
    }
    const userAgent = req.headers['user-agent'] ?? '';
    this.stats.tokenRequests++;
    if (userAgent.startsWith('rclone/')) this.stats.tokenRequestsByRclone++;
    increment(this.stats.tokenRequestsByUserAgent, userAgent);
    const at = Date.now();
    const form = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8'));
    const client = clientCredentials(req, form);
    increment(this.stats.tokenRequestsByClientId, client?.clientId ?? '');
    const answer = await this.#answer(req, res, form, client);
    if (answer.status === 200) this.stats.tokenSuccesses++;
    else this.stats.tokenFailures++;
    increment(this.stats.tokenResults, answer.result);
    const refreshToken = form.get('refresh_token');
    if (form.get('grant_type') === 'refresh_token' && refreshToken) {
      increment(this.stats.tokenRequestsByGeneration, this.authority.refreshTokenInfo(refreshToken)?.generation ?? 0);
    }
    this.log.push({
      at,
      userAgent,
      grantType: form.get('grant_type') ?? '',
      clientId: client?.clientId ?? '',
      status: answer.status,
      error: answer.error,
      refreshTokenFingerprint: fingerprint(refreshToken),
      grantId: answer.info?.grantId,
      generation: answer.info?.generation,
      latestGeneration: answer.info?.latestGeneration,
      issuedGeneration: answer.issuedGeneration,
    });
  }

  /** Answers one token request, honouring the current fault. */
  async #answer(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, client: ClientCredentials | undefined): Promise<Answer> {
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
      return { status: NO_ANSWER, result: 'unanswered' };
    }
    const fault = this.#fault;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return { status: NO_ANSWER, result: 'reset' };
    }
    if (fault?.kind === 'status') return { status: sendFault(res, fault), result: `fault:${fault.status}` };
    return this.#exchange(req, res, form, client);
  }

  #exchange(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, client: ClientCredentials | undefined): Answer {
    if (!req.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) return this.#refuse(res, { kind: 'notForm' });
    if (!client) return this.#refuse(res, { kind: 'missingClient' });
    switch (this.authority.checkClient(client.clientId, client.clientSecret)) {
      case 'unknownClient':
        return this.#refuse(res, { kind: 'unknownClient', clientId: client.clientId });
      case 'wrongSecret':
        return this.#refuse(res, { kind: 'wrongSecret', clientId: client.clientId });
      case 'ok':
        break;
    }
    const grantType = form.get('grant_type');
    if (grantType !== 'refresh_token') return this.#refuse(res, { kind: 'unsupportedGrantType', grantType: grantType ?? '' });
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return this.#refuse(res, { kind: 'missingRefreshToken' });
    const outcome = this.authority.refresh(refreshToken, client.clientId);
    if (!outcome.ok) {
      const problem: TokenProblem = outcome.error === 'invalidGrant' ? { kind: 'invalidGrant', reason: outcome.reason } : { kind: 'wrongClient', clientId: client.clientId };
      return { ...this.#refuse(res, problem), info: outcome.info };
    }
    if (outcome.generation !== outcome.latestGeneration) this.stats.staleGenerationRefreshes++;
    const body = this.dialect.success({
      accessToken: outcome.accessToken,
      expiresInSeconds: outcome.expiresInSeconds,
      refreshToken: outcome.rotatedRefreshToken,
      scope: this.scope,
    });
    sendJson(res, 200, body, NO_STORE);
    return {
      status: 200,
      result: 'ok',
      info: { grantId: outcome.grantId, clientId: client.clientId, generation: outcome.generation, latestGeneration: outcome.latestGeneration, live: true },
      issuedGeneration: outcome.issuedGeneration,
    };
  }

  #refuse(res: ServerResponse, problem: TokenProblem): Answer {
    const answer = this.dialect.error(problem);
    this.#send(res, answer);
    const error = typeof answer.body.error === 'string' ? answer.body.error : undefined;
    return { status: answer.status, result: error ?? `http:${answer.status}`, error };
  }

  #send(res: ServerResponse, answer: { status: number; body: unknown; headers?: Record<string, string> }): void {
    sendJson(res, answer.status, answer.body, { ...NO_STORE, ...answer.headers });
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
