/**
 * A reverse proxy on 127.0.0.1 in front of the stand-in hub's REST API that rewrites chosen
 * answers, as a broken hub or a broken middlebox would: the request reaches the hub as it is, and
 * the answer's body is replaced for the next `times` requests a rule matches. It counts what it
 * rewrote.
 */
import { request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listen } from '../../../scripts/standins/http-util.js';

export interface TamperRule {
  method: string;
  path: string;
  /** Also matches on the request body (e.g. heartbeats only). */
  when?: (requestBody: string) => boolean;
  /** The hub's status whose answers are rewritten (default 200); the rewritten answer is a 200. */
  status?: number;
  /** The body sent instead of the hub's. */
  rewrite: (answerBody: string) => string;
  times: number;
  /** How many answers this rule rewrote. */
  rewritten: number;
}

export class HubTamperFront {
  private readonly rules: TamperRule[] = [];
  /** What was rewritten: the path, the hub's answer, what was sent instead. */
  readonly log: { path: string; original: string; sent: string }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<HubTamperFront> {
    const upstream = new URL(target);
    const holder: { front?: HubTamperFront } = {};
    const { server, url } = await listen((req, res) => {
      holder.front?.handle(req, res, upstream);
    });
    holder.front = new HubTamperFront(server, url);
    return holder.front;
  }

  tamper(rule: Omit<TamperRule, 'rewritten'>): TamperRule {
    const added = { ...rule, rewritten: 0 };
    this.rules.push(added);
    return added;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = new URL(req.url ?? '/', 'http://front').pathname;
      const rule = this.rules.find((r) => r.times > r.rewritten && r.method === req.method && path.toLowerCase() === r.path.toLowerCase() && (r.when?.(body.toString('utf8')) ?? true));
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            let text = Buffer.concat(parts).toString('utf8');
            let status = answer.statusCode ?? 502;
            if (rule && status === (rule.status ?? 200) && rule.times > rule.rewritten) {
              status = 200;
              rule.rewritten += 1;
              const original = text;
              text = rule.rewrite(text);
              this.log.push({ path, original, sent: text });
            }
            const headers = { ...answer.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) }).end(text);
          });
        },
      );
      out.on('error', () => res.destroy());
      out.end(body);
    });
  }
}
