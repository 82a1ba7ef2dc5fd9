/**
 * Storages of the hub stand-in and Hannibal's semantics for them (research/real-hannibal.md §3.3,
 * §6, F2, F8): every user's storages with their secrets to anyone logged in, and a save that
 * announces changed credentials to every connected client.
 */
import { HubMethods, type Storage } from '../../../shared/hannibal.js';

/** A request the hub refuses, with the HTTP status Hannibal answers it with. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }
}

export interface StoragePutRecord {
  at: number;
  id: number;
  body: Storage;
  /** Whether the save broadcast `StorageReauthenticated`. */
  broadcast: boolean;
}

/** Storage members a save replaces. Hannibal binds the whole body: an absent member reads as null. */
const SAVED_FIELDS = [
  'technology',
  'uriSchema',
  'networks',
  'oAuth2Email',
  'clientId',
  'clientSecret',
  'accessToken',
  'refreshToken',
  'expiresAt',
  'username',
  'password',
  'host',
  'port',
  'domain',
] as const;

/** Credentials other than tokens whose change counts as a re-authentication (§6). */
const CREDENTIAL_FIELDS = ['host', 'username', 'password', 'domain', 'port'] as const;

export class HubStorages {
  readonly puts: StoragePutRecord[] = [];
  /** When each `GET /storages` was answered: how often a client fetched the storage list. */
  readonly fetches: number[] = [];
  private readonly byId = new Map<number, Storage>();
  private nextId = 1;

  constructor(
    private readonly defaultUserId: string,
    private readonly broadcast: (target: string, ...args: unknown[]) => void,
  ) {}

  /**
   * Adds a storage with a fresh id (an `id` given is ignored). Members not given get what
   * `POST /storages` gives them (§3.3): `""` for strings, the creation time for `expiresAt`,
   * `null` for `port`, active.
   */
  add(init: Partial<Storage> & { technology: string; uriSchema: string }): Storage {
    const now = new Date().toISOString();
    const { technology, uriSchema, ...given } = init;
    const storage: Storage = {
      id: 0,
      userId: this.defaultUserId,
      technology,
      uriSchema,
      networks: '',
      oAuth2Email: '',
      clientId: '',
      clientSecret: '',
      accessToken: '',
      refreshToken: '',
      expiresAt: now,
      username: '',
      password: '',
      host: '',
      port: null,
      domain: '',
      createdAt: now,
      updatedAt: now,
      isActive: true,
      ...given,
    };
    storage.id = this.nextId++;
    this.byId.set(storage.id, storage);
    return structuredClone(storage);
  }

  get(id: number): Storage | undefined {
    const storage = this.byId.get(id);
    return storage === undefined ? undefined : structuredClone(storage);
  }

  /** The live row, for embedding in jobs; callers clone what they hand out. */
  row(id: number): Storage | undefined {
    return this.byId.get(id);
  }

  list(): Storage[] {
    return [...this.byId.values()].map((storage) => structuredClone(storage));
  }

  /** `GET /storages`: every storage of every user, secrets included; the fetch is recorded. */
  fetch(): Storage[] {
    this.fetches.push(Date.now());
    return this.list();
  }

  remove(id: number): void {
    this.byId.delete(id);
  }

  /** `PUT /storages/{id}`: saves the body and records the request. */
  put(id: number, body: Storage): Storage {
    const { storage, credentialsChanged } = this.save(id, body);
    this.puts.push({ at: Date.now(), id, body: structuredClone(body), broadcast: credentialsChanged });
    return storage;
  }

  /** An edit in the hub's UI: the patch over the current storage, saved as a PUT would save it. */
  edit(id: number, patch: Partial<Storage>): Storage {
    const current = this.byId.get(id);
    if (current === undefined) throw new HubRequestError(404, `storage ${id} not found`);
    return this.save(id, { ...structuredClone(current), ...patch, id }).storage;
  }

  /**
   * Hannibal's `UpdateStorageAsync`: 404 for an unknown id, 500 when the body would move the
   * storage to another user; otherwise copy the members, and broadcast
   * `StorageReauthenticated(uriSchema)` to every client when a token (null ≡ '') or a credential
   * changed. Members absent from the body are saved as null, so a client that drops a token
   * clears it. Two quirks of the real hub (F8): `isActive` is not copied (a PUT cannot
   * deactivate a storage) and `updatedAt` is not set (it keeps the creation time).
   */
  private save(id: number, body: Storage): { storage: Storage; credentialsChanged: boolean } {
    const existing = this.byId.get(id);
    if (existing === undefined) throw new HubRequestError(404, `storage ${id} not found`);
    if ((body.userId ?? null) !== (existing.userId ?? null)) throw new HubRequestError(500, `storage ${id} cannot change its user`);
    const saved: Storage = { ...existing, ...Object.fromEntries(SAVED_FIELDS.map((field) => [field, body[field] ?? null])) };
    const credentialsChanged =
      (existing.accessToken ?? '') !== (saved.accessToken ?? '') ||
      (existing.refreshToken ?? '') !== (saved.refreshToken ?? '') ||
      CREDENTIAL_FIELDS.some((field) => (existing[field] ?? null) !== (saved[field] ?? null));
    this.byId.set(id, saved);
    if (credentialsChanged) this.broadcast(HubMethods.storageReauthenticated, saved.uriSchema);
    return { storage: structuredClone(saved), credentialsChanged };
  }
}
