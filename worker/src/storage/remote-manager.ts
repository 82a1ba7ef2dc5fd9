/**
 * Keeps the running rclone's remotes equal to what the storages say, through rclone's own rc
 * config API (`config/create|update|delete|dump`), never by writing rclone.conf. It is also the
 * broker's `TokenSink`: a new access token goes into the running rclone with `config/update`,
 * which running jobs adopt at their old token's switch point (rclone-lab.md Q5).
 */
import type { RcConfigDump, RcloneToken } from '../../../shared/rclone-rc.js';
import { RcError, errorMessage } from '../errors.js';
import { fingerprint } from '../log/fingerprint.js';
import type { Logger } from '../log/logger.js';
import type { RcClient } from '../rclone/rc-client.js';
import type { TokenSink } from '../tokens/broker.js';
import { diffRemote, sameToken, type RemoteDiff } from './remote-diff.js';
import type { RemoteSpec } from './remote-spec.js';

/** The rc client of the rclone that runs now, if any. */
export type CurrentRclone = () => RcClient | undefined;

export type ApplyAction = 'created' | 'unchanged' | 'token-pushed' | 'updated';

export class RemoteManager implements TokenSink {
  private readonly log: Logger;

  constructor(private readonly rclone: CurrentRclone, logger: Logger) {
    this.log = logger.child({ component: 'remotes' });
  }

  private client(): RcClient {
    const client = this.rclone();
    if (!client) throw new RcError('config', 'rclone is not running', undefined);
    return client;
  }

  async dump(): Promise<RcConfigDump> {
    return this.client().configDump();
  }

  /**
   * False when there is nothing to push to: no rclone runs, or it has no such remote yet (a
   * storage learnt at acquisition is refreshed before its remote exists; the remote is then
   * created with the token, real-hannibal.md F4).
   */
  async pushToken(uriSchema: string, token: RcloneToken): Promise<boolean> {
    const client = this.rclone();
    if (!client || !(await this.exists(client, uriSchema))) return false;
    const json = JSON.stringify(token);
    await this.write(client, uriSchema, () => client.configUpdate(uriSchema, { token: json }, { oauth: true }), (stored) =>
      stored?.token !== undefined && sameToken(stored.token, json),
    );
    return true;
  }

  /**
   * Makes the next runs on this remote start from a fresh Fs with the spec's token: a
   * `config/update`, which clears rclone's Fs cache for the remote (a routine `pushToken` must
   * not: it would shut down a running Dropbox job's batcher, rclone-providers-lab.md Q4). New runs
   * otherwise reuse the cached Fs and its token source, and so the token that failed. Call it
   * only when no job runs on the remote. A missing or changed remote is created or updated,
   * which clears the cache too.
   */
  async reloadRemote(spec: RemoteSpec): Promise<void> {
    const client = this.client();
    const diff = await this.diff(spec);
    const token = spec.parameters.token;
    if (diff.kind === 'missing' || diff.kind === 'params' || token === undefined) {
      await this.apply(spec, diff);
      return;
    }
    await this.write(client, spec.name, () => client.configUpdate(spec.name, { token }, { oauth: true }), (stored) =>
      stored?.token !== undefined && sameToken(stored.token, token),
    );
    this.log.info({ remote: spec.name, tokenFp: fingerprint(tokenAccess(token)) }, 'remote reloaded for fresh runs');
  }

  private async exists(client: RcClient, name: string): Promise<boolean> {
    const stored = await client.call('config/get', { name });
    return typeof stored.type === 'string';
  }

  /** Compares one remote with rclone's current config. */
  async diff(spec: RemoteSpec, dump?: RcConfigDump): Promise<RemoteDiff> {
    const current = dump ?? (await this.dump());
    return diffRemote(spec, current[spec.name]);
  }

  /**
   * Makes rclone's remote equal to `spec` with the least change: nothing, a token push, a
   * `config/update` of the changed keys, or delete + create when keys must disappear or the
   * type changed. Returns what it did.
   */
  async apply(spec: RemoteSpec, known?: RemoteDiff, dump?: RcConfigDump): Promise<{ action: ApplyAction; diff: RemoteDiff }> {
    const client = this.client();
    const current = dump ?? (known ? undefined : await client.configDump());
    const diff = known ?? diffRemote(spec, current?.[spec.name]);
    switch (diff.kind) {
      case 'equal':
        return { action: 'unchanged', diff };
      case 'missing':
        await this.create(client, spec);
        this.log.info({ remote: spec.name, type: spec.type }, 'remote created');
        return { action: 'created', diff };
      case 'token-only': {
        const token = spec.parameters.token ?? '';
        await this.write(client, spec.name, () => client.configUpdate(spec.name, { token }, { oauth: true }), isSpec(spec));
        this.log.info({ remote: spec.name, tokenFp: fingerprint(tokenAccess(token)) }, 'token pushed to rclone');
        return { action: 'token-pushed', diff };
      }
      case 'params': {
        const removesKeys = diff.keys.some((k) => k === 'type' || !(k in spec.parameters));
        if (removesKeys) {
          await client.configDelete(spec.name);
          await this.create(client, spec);
        } else {
          const changed = Object.fromEntries(diff.keys.map((k) => [k, spec.parameters[k] ?? '']));
          await this.write(client, spec.name, () => client.configUpdate(spec.name, changed, { oauth: spec.oauth }), isSpec(spec));
        }
        this.log.info({ remote: spec.name, keys: diff.keys, recreated: removesKeys }, 'remote updated');
        return { action: 'updated', diff };
      }
    }
  }

  private create(client: RcClient, spec: RemoteSpec): Promise<void> {
    return this.write(client, spec.name, () => client.configCreate(spec.name, spec.type, spec.parameters, { oauth: spec.oauth }), isSpec(spec));
  }

  /**
   * Runs one config write. rclone's drive and onedrive config state machines end every
   * non-interactive create or update with a question (shared drive? which kind of connection?)
   * that they ask after storing the parameters; RcClient reports a question as an RcError with
   * HTTP status 200 (rclone answered the call). Such a write counts as done when rclone now
   * stores what was asked for. Any other failure stands: rclone may keep a half-made remote in
   * memory after a real error, which must not pass for success.
   */
  private async write(
    client: RcClient,
    name: string,
    call: () => Promise<void>,
    done: (stored: Readonly<Record<string, string>> | undefined) => boolean,
  ): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (!(err instanceof RcError) || err.status !== 200) throw err;
      const dump = await client.configDump().catch(() => undefined);
      if (!dump || !done(dump[name])) throw err;
      this.log.debug({ remote: name, answer: errorMessage(err) }, 'rclone stores the remote as wanted; its config question stays unanswered');
    }
  }

  async remove(name: string): Promise<void> {
    await this.client().configDelete(name);
    this.log.info({ remote: name }, 'remote removed');
  }

  /**
   * Brings a fresh rclone in line with all specs: creates or updates each, and deletes remotes
   * no storage explains. `keep` names remotes of known storages that could not be built now
   * (e.g. Graph unreachable): they are left as they are. One failing remote does not stop the
   * others.
   */
  async syncAll(specs: readonly RemoteSpec[], keep: ReadonlySet<string> = new Set()): Promise<{ failed: string[] }> {
    const dump = await this.dump();
    const failed: string[] = [];
    for (const spec of specs) {
      try {
        await this.apply(spec, undefined, dump);
      } catch (err) {
        failed.push(spec.name);
        this.log.error({ remote: spec.name, reason: errorMessage(err) }, 'could not configure remote');
      }
    }
    const wanted = new Set(specs.map((s) => s.name));
    for (const name of Object.keys(dump)) {
      if (wanted.has(name) || keep.has(name)) continue;
      try {
        await this.remove(name);
      } catch (err) {
        this.log.warn({ remote: name, reason: errorMessage(err) }, 'could not remove stale remote');
      }
    }
    return { failed };
  }
}

function isSpec(spec: RemoteSpec): (stored: Readonly<Record<string, string>> | undefined) => boolean {
  return (stored) => diffRemote(spec, stored).kind === 'equal';
}

function tokenAccess(tokenJson: string): string | undefined {
  try {
    const parsed = JSON.parse(tokenJson) as { access_token?: unknown };
    return typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
  } catch {
    return undefined;
  }
}
