/**
 * Keeps the running rclone's remotes equal to what the storages say, through rclone's own rc
 * config API (`config/create|update|delete|dump`). It is also the broker's `TokenSink`.
 *
 * How a new access token reaches rclone — the one place that writes rclone.conf itself:
 * `config/update` would do it, but it also clears rclone's Fs cache for the remote, which calls
 * `Shutdown()` on the Fs a running job uses; for Dropbox that stops the job's upload batcher
 * and every upload that commits afterwards is lost after its bytes were sent
 * (research/rclone-providers-lab.md Q4). So a token push replaces the token line in rclone.conf
 * (atomic rename, rclone's own token encoding) and confirms with `config/dump`, which makes
 * rclone reload the file and never touches the cache (see rclone/config-token.ts for the race
 * analysis). Running jobs adopt the token at their old token's expiry − 10 s, as before, on
 * every backend, and Dropbox keeps batching. The alternative, `batch_mode=off`, measured on the
 * stand-in with 500 small files and 50 ms per request: 4× faster when commits never contend,
 * 2.1× slower (6.0 vs 2.8 files/s, 77 files sent twice) when a busy write lock answers
 * `too_many_write_operations` as Dropbox does (README, "Dropbox"; scripts/bench/dropbox-batching.ts).
 *
 * rclone must run with a long `--fs-cache-expire-duration` ({@link RCLONE_FS_CACHE_ARGS}): in
 * 1.60.1 a running job does not pin its Fs, so the cache's own expiry (5 min of disuse by
 * default) shuts a long Dropbox job's batcher down the same way.
 *
 * Every config write (rc calls and token writes) runs one at a time, so the worker never races
 * itself on the file.
 */
import type { RcConfigDump, RcloneToken } from '../../../shared/rclone-rc.js';
import { RcError, errorMessage } from '../errors.js';
import { fingerprint } from '../log/fingerprint.js';
import type { Logger } from '../log/logger.js';
import { rcloneTokenJson, writeRemoteToken } from '../rclone/config-token.js';
import type { RcClient } from '../rclone/rc-client.js';
import type { TokenSink } from '../tokens/broker.js';
import { Mutex } from '../util/mutex.js';
import { diffRemote, sameToken, type RemoteDiff } from './remote-diff.js';
import type { RemoteSpec } from './remote-spec.js';

/** The rc client of the rclone that runs now, if any. */
export type CurrentRclone = () => RcClient | undefined;

/** The config file of the rclone that runs now, if any. */
export type CurrentConfigFile = () => string | undefined;

export type ApplyAction = 'created' | 'unchanged' | 'token-pushed' | 'updated';

/**
 * rcd flags this module relies on: keep a cached Fs until its remote's config changes. rclone
 * 1.60.1 does not pin the Fs of a running rc job, so the default expiry (5 min unused, checked
 * every minute) finalizes it mid-job and calls its `Shutdown()` (measured: a Dropbox copy fails
 * with `batcher is shutting down`). Entries are one per fs string the jobs use: bounded.
 */
export const RCLONE_FS_CACHE_ARGS: readonly string[] = ['--fs-cache-expire-duration', '87600h'];

/** Token writes that rclone does not confirm are retried this often before the push fails. */
const TOKEN_WRITE_ATTEMPTS = 3;

export class RemoteManager implements TokenSink {
  private readonly log: Logger;
  /** Serialises every config write of this worker (rc calls and token file writes). */
  private readonly writes = new Mutex();

  constructor(
    private readonly rclone: CurrentRclone,
    private readonly configFile: CurrentConfigFile,
    logger: Logger,
  ) {
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
   * Hands a new access token to the running rclone without clearing its Fs cache (see the
   * module comment): running jobs on any backend keep everything they hold. False when no
   * rclone runs: the remote gets the token when rclone starts and remotes are built; or when
   * rclone has no such remote yet (a storage learnt at acquisition is refreshed before its remote
   * is created with the token, real-hannibal.md F4).
   */
  async pushToken(uriSchema: string, token: RcloneToken): Promise<boolean> {
    const client = this.rclone();
    const configPath = this.configFile();
    if (!client || !configPath || !(await this.exists(client, uriSchema))) return false;
    await this.writes.runExclusive(() => this.writeToken(client, configPath, uriSchema, rcloneTokenJson(token)));
    return true;
  }

  /**
   * Rebuilds what rclone caches for this remote: `config/update` of its parameters, which drops
   * its cached Fs objects, so the next run creates a new one with the newest token. For a
   * re-authentication whose old access tokens were revoked. Only while no job uses the remote:
   * a running job's Fs is shut down by it (a Dropbox job loses its pending uploads).
   */
  async reloadRemote(spec: RemoteSpec): Promise<void> {
    const client = this.client();
    await this.writes.runExclusive(() =>
      this.write(client, spec.name, () => client.configUpdate(spec.name, withRcloneToken(spec.parameters), { oauth: spec.oauth }), isSpec(spec)),
    );
    this.log.info({ remote: spec.name }, 'remote reloaded: rclone builds it afresh for the next run');
  }

  /**
   * Writes the token line and checks that rclone holds it: `config/dump` goes through rclone's
   * change check, so it reloads the file and shows what rclone will use. Anything else writing
   * the file at the same instant shows up here as another token, and the write is repeated.
   */
  private async writeToken(client: RcClient, configPath: string, name: string, tokenJson: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await writeRemoteToken(configPath, name, tokenJson);
      const stored = (await client.configDump())[name];
      if (stored?.token !== undefined && sameToken(stored.token, tokenJson)) {
        if (attempt > 1) this.log.warn({ remote: name, attempts: attempt }, 'token write was overwritten in rclone.conf; written again, rclone holds it now');
        return;
      }
      if (attempt >= TOKEN_WRITE_ATTEMPTS) {
        throw new RcError('config/dump', `rclone does not hold the token written for remote ${name} after ${attempt} writes`, undefined);
      }
    }
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
        const configPath = this.configFile();
        if (!configPath) throw new RcError('config', 'rclone is not running', undefined);
        await this.writes.runExclusive(() => this.writeToken(client, configPath, spec.name, canonicalToken(token)));
        this.log.info({ remote: spec.name, tokenFp: fingerprint(tokenAccess(token)) }, 'token pushed to rclone');
        return { action: 'token-pushed', diff };
      }
      case 'params': {
        const removesKeys = diff.keys.some((k) => k === 'type' || !(k in spec.parameters));
        if (removesKeys) {
          await this.writes.runExclusive(() => client.configDelete(spec.name));
          await this.create(client, spec);
        } else {
          const changed = withRcloneToken(Object.fromEntries(diff.keys.map((k) => [k, spec.parameters[k] ?? ''])));
          await this.writes.runExclusive(() => this.write(client, spec.name, () => client.configUpdate(spec.name, changed, { oauth: spec.oauth }), isSpec(spec)));
        }
        this.log.info({ remote: spec.name, keys: diff.keys, recreated: removesKeys }, 'remote updated');
        return { action: 'updated', diff };
      }
    }
  }

  private create(client: RcClient, spec: RemoteSpec): Promise<void> {
    return this.writes.runExclusive(() =>
      this.write(client, spec.name, () => client.configCreate(spec.name, spec.type, withRcloneToken(spec.parameters), { oauth: spec.oauth }), isSpec(spec)),
    );
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
    const client = this.client();
    await this.writes.runExclusive(() => client.configDelete(name));
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

/**
 * The token parameter in rclone's own encoding (rclone/config-token.ts): then rclone, re-reading it at
 * a switch point, finds nothing to save and never rewrites rclone.conf for a token.
 */
function withRcloneToken(parameters: Readonly<Record<string, string>>): Record<string, string> {
  return parameters.token === undefined ? { ...parameters } : { ...parameters, token: canonicalToken(parameters.token) };
}

function canonicalToken(tokenJson: string): string {
  try {
    return rcloneTokenJson(JSON.parse(tokenJson) as RcloneToken);
  } catch {
    return tokenJson;
  }
}

function tokenAccess(tokenJson: string): string | undefined {
  try {
    const parsed = JSON.parse(tokenJson) as { access_token?: unknown };
    return typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
  } catch {
    return undefined;
  }
}
