/**
 * A SignalR hub server speaking the JSON hub protocol over WebSockets, as far as the official
 * `@microsoft/signalr` client needs it (research/ecosystem.md §3.2): negotiate (version 1),
 * single-use connection tokens, handshake, `\x1e`-framed messages, server pings, broadcasts and
 * the close message.
 *
 * Like Hannibal's hub it is unauthenticated and offers no methods to clients; invocations that
 * wait for an answer get an error completion so they never hang.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { sendJson, sendText } from '../http-util.js';

/** The record separator that ends every message of the JSON hub protocol. */
const RECORD_SEPARATOR = 0x1e;

/** Hub protocol message types (`MessageType` of the SignalR client). */
const MessageType = { Invocation: 1, Completion: 3, StreamInvocation: 4, Ping: 6, Close: 7 } as const;

/** How long `close()` lets a client answer the WebSocket close before the socket is cut. */
const CLOSE_GRACE_MS = 1000;

export interface SignalRHubOptions {
  /** Path of the hub, e.g. `/hannibal`; negotiate is served at `${path}/negotiate`. */
  path: string;
  /** Interval of server pings to every handshaken client. */
  pingIntervalMs: number;
}

export class SignalRHub {
  private readonly webSockets = new WebSocketServer({ noServer: true });
  /** Negotiated connection tokens not used yet → the connection id they stand for. */
  private readonly pendingTokens = new Map<string, string>();
  private readonly connections = new Set<HubConnection>();
  private readonly pingTimer: NodeJS.Timeout;

  constructor(private readonly options: SignalRHubOptions) {
    this.pingTimer = setInterval(() => {
      for (const connection of this.connections) connection.ping();
    }, options.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Whether an HTTP request path is this hub's negotiate endpoint. */
  isNegotiatePath(pathname: string): boolean {
    return pathname === `${this.options.path}/negotiate`;
  }

  /**
   * `POST {hub}/negotiate`: a new connection id and, for negotiate version 1, a separate
   * single-use connection token; WebSockets is the only transport offered.
   */
  negotiate(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== 'POST') {
      sendText(res, 405, '', { allow: 'POST' });
      return;
    }
    const connectionId = randomUUID();
    const availableTransports = [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }];
    // Version 0 clients connect with the connection id itself.
    if (Number(url.searchParams.get('negotiateVersion') ?? '0') < 1) {
      this.pendingTokens.set(connectionId, connectionId);
      sendJson(res, 200, { negotiateVersion: 0, connectionId, availableTransports });
      return;
    }
    const connectionToken = randomUUID();
    this.pendingTokens.set(connectionToken, connectionId);
    sendJson(res, 200, { negotiateVersion: 1, connectionId, connectionToken, availableTransports });
  }

  /** HTTP upgrade: accepts `{hub}?id=<token>` for a negotiated, unused token; anything else is a 404. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const token = url.searchParams.get('id') ?? '';
    const connectionId = url.pathname === this.options.path ? this.pendingTokens.get(token) : undefined;
    if (connectionId === undefined) {
      socket.on('error', () => {
        socket.destroy();
      });
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.pendingTokens.delete(token);
    this.webSockets.handleUpgrade(req, socket, head, (webSocket) => {
      const connection = new HubConnection(webSocket);
      this.connections.add(connection);
      webSocket.on('close', () => this.connections.delete(connection));
    });
  }

  /** Invokes `target(...args)` on every handshaken client (Hannibal's `Clients.All.SendAsync`). */
  broadcast(target: string, ...args: unknown[]): void {
    for (const connection of this.connections) connection.invoke(target, args);
  }

  /** Clients that completed the handshake and are still open. */
  connectedClients(): number {
    return [...this.connections].filter((connection) => connection.isReady()).length;
  }

  /** Cuts every WebSocket without a close message, like a crash or a network drop (clients see 1006). */
  dropConnections(): void {
    for (const connection of this.connections) connection.terminate();
  }

  /**
   * Stops pinging and closes every connection with a close message that allows reconnecting, as
   * a hub going down for a restart would; sockets that do not finish the close in time are cut.
   */
  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    this.pendingTokens.clear();
    await Promise.all([...this.connections].map((connection) => connection.close()));
    await new Promise<void>((resolve) => {
      this.webSockets.close(() => {
        resolve();
      });
    });
  }
}

/** One client connection: handshake first, then hub messages. */
class HubConnection {
  private handshaken = false;
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly webSocket: WebSocket) {
    webSocket.on('message', (data) => {
      this.receive(data);
    });
    webSocket.on('error', () => {
      webSocket.terminate();
    });
  }

  isReady(): boolean {
    return this.handshaken && this.webSocket.readyState === WebSocket.OPEN;
  }

  invoke(target: string, args: unknown[]): void {
    if (this.handshaken) this.send({ type: MessageType.Invocation, target, arguments: args });
  }

  ping(): void {
    if (this.handshaken) this.send({ type: MessageType.Ping });
  }

  terminate(): void {
    this.webSocket.terminate();
  }

  async close(): Promise<void> {
    if (this.webSocket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => {
      this.webSocket.once('close', () => {
        resolve();
      });
    });
    if (this.handshaken) this.send({ type: MessageType.Close, allowReconnect: true });
    this.webSocket.close(1000);
    const grace = setTimeout(() => {
      this.webSocket.terminate();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(grace);
  }

  /** Splits received bytes into records; a record may span frames and a frame may hold several. */
  private receive(data: RawData): void {
    const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.pending = Buffer.concat([this.pending, chunk]);
    let end: number;
    while ((end = this.pending.indexOf(RECORD_SEPARATOR)) >= 0) {
      const record = this.pending.subarray(0, end).toString('utf8');
      this.pending = this.pending.subarray(end + 1);
      if (this.handshaken) this.onMessage(record);
      else this.onHandshake(record);
      if (this.webSocket.readyState !== WebSocket.OPEN) return;
    }
  }

  private onHandshake(record: string): void {
    const request = parseJson(record);
    const protocol = isObject(request) ? request.protocol : undefined;
    const version = isObject(request) ? request.version : undefined;
    if (protocol !== 'json' || version !== 1) {
      this.send({ error: `The hub supports the 'json' protocol version 1 only, not ${JSON.stringify(protocol)} version ${JSON.stringify(version)}.` });
      this.webSocket.close(1000);
      return;
    }
    this.send({});
    this.handshaken = true;
  }

  private onMessage(record: string): void {
    const message = parseJson(record);
    if (!isObject(message) || typeof message.type !== 'number') {
      this.send({ type: MessageType.Close, error: 'Connection closed with an error: invalid hub message.' });
      this.webSocket.close(1000);
      return;
    }
    switch (message.type) {
      case MessageType.Invocation:
      case MessageType.StreamInvocation:
        if (typeof message.invocationId === 'string') {
          const target = typeof message.target === 'string' ? message.target : '';
          this.send({ type: MessageType.Completion, invocationId: message.invocationId, error: `Failed to invoke '${target}': the hub has no such method.` });
        }
        break;
      case MessageType.Ping:
        this.send({ type: MessageType.Ping });
        break;
      case MessageType.Close:
        this.webSocket.close(1000);
        break;
      default:
        // Completions, stream items and cancellations concern nothing this hub started.
        break;
    }
  }

  private send(message: Record<string, unknown>): void {
    if (this.webSocket.readyState === WebSocket.OPEN) this.webSocket.send(`${JSON.stringify(message)}\x1e`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
