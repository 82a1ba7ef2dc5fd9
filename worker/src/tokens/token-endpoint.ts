/**
 * One `grant_type=refresh_token` request to a provider's token endpoint, classified.
 * Client credentials travel in the form body (client_secret_post), which Microsoft, Google and
 * Dropbox all accept. Never throws: every answer becomes a `RefreshOutcome`.
 */
import { request, type Dispatcher } from 'undici';
import { classifyTokenAnswer, classifyTransportFailure, type RefreshOutcome } from './classify.js';

export interface RefreshRequest {
  tokenUrl: string;
  refreshToken: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
  scope: string | undefined;
}

/** The narrow seam the broker uses; tests substitute a fake. */
export interface TokenEndpoint {
  refresh(req: RefreshRequest, signal?: AbortSignal): Promise<RefreshOutcome>;
}

export class HttpTokenEndpoint implements TokenEndpoint {
  constructor(private readonly options: { timeoutMs: number; dispatcher?: Dispatcher; userAgent?: string }) {}

  async refresh(req: RefreshRequest, signal?: AbortSignal): Promise<RefreshOutcome> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: req.refreshToken });
    if (req.clientId) form.set('client_id', req.clientId);
    if (req.clientSecret) form.set('client_secret', req.clientSecret);
    if (req.scope) form.set('scope', req.scope);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const res = await request(req.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          'user-agent': this.options.userAgent ?? 'rclone-sync-worker',
        },
        body: form.toString(),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      });
      const body = await res.body.text();
      const retryAfter = res.headers['retry-after'];
      return classifyTokenAnswer({
        status: res.statusCode,
        body,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      });
    } catch (err) {
      return classifyTransportFailure(err);
    }
  }
}
