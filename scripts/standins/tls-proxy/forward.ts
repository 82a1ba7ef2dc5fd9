/**
 * Forwards one decrypted HTTP/1.1 request to a plain-HTTP stand-in and streams the answer back:
 * bodies flow in both directions as they arrive (a throttled upload is throttled end to end),
 * the Host header is kept (stand-ins see `graph.microsoft.com`, as they would behind the real
 * DNS), and hop-by-hop headers stay on their own hop.
 */
import { request, type Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1). `Transfer-Encoding`
 * is left alone on purpose: both hops are HTTP/1.1, so Node frames the forwarded body the same way.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

export interface ForwardTarget {
  hostname: string;
  port: number;
}

/** Resolves when the exchange ends (answered, or abandoned by either side); never rejects. */
export function forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, agent: Agent): Promise<'answered' | 'upstreamError' | 'clientGone'> {
  return new Promise((resolve) => {
    const upstream = request({
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: endToEndHeaders(req.headers),
      agent,
    });
    let settled = false;
    const settle = (outcome: 'answered' | 'upstreamError' | 'clientGone') => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEndRawHeaders(answer.rawHeaders));
      pipeline(answer, res, (err) => {
        settle(err ? 'clientGone' : 'answered');
      });
    });
    upstream.on('error', () => {
      if (!res.headersSent) {
        const body = `stand-in at ${target.hostname}:${target.port} unreachable\n`;
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
      settle('upstreamError');
    });
    res.on('close', () => {
      // The client went away before the answer was complete: stop the stand-in's side too.
      if (!res.writableFinished) {
        upstream.destroy();
        settle('clientGone');
      }
    });
    pipeline(req, upstream, () => {
      // Errors surface on `upstream` ('error') or `res` ('close'); nothing more to do here.
    });
  });
}

function endToEndHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const connectionTokens = connectionHeaderTokens(headers.connection);
  const result: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !connectionTokens.has(name)) result[name] = value;
  }
  return result;
}

/** Response headers as a flat raw list (keeps repeated headers such as Set-Cookie apart). */
function endToEndRawHeaders(raw: readonly string[]): string[] {
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'connection') connection = raw[i + 1];
  const connectionTokens = connectionHeaderTokens(connection);
  const result: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !connectionTokens.has(name)) result.push(raw[i]!, raw[i + 1]!);
  }
  return result;
}

function connectionHeaderTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
}
