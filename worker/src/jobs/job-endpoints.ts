/**
 * A job's two endpoints as the runner needs them: which storages they are on (from the catalog,
 * which the hub may have to refresh first: a job can name a storage created after the last
 * load), and the rclone paths a run gets. The job's body comes from the hub and is checked here
 * (hub/wire.ts): a malformed one is a `MalformedJobError`, a storage the hub does not have a
 * `StorageError` — both terminal (`DoneWithErrors`), never retried.
 *
 * The paths are built by `EndpointPaths`, which confines local ones to the operator's roots. The
 * runner asks for them twice: when a run is prepared (a refused path costs no token refresh and
 * no remote change) and right before rclone gets them (a symlink swapped in meanwhile is caught).
 */
import type { Job, Storage } from '../../../shared/hannibal.js';
import { StorageError } from '../errors.js';
import { assertOperation, endpointOf, storageIdsOf, type Side } from '../hub/wire.js';
import type { StorageCatalog } from '../storage/catalog.js';
import type { EndpointPaths } from '../storage/endpoint-paths.js';
import { uniqueStorages } from './tracked-job.js';

export interface Endpoint {
  storage: Storage;
  path: string;
}

export interface JobEndpointsOptions {
  catalog: Pick<StorageCatalog, 'byId'>;
  paths: Pick<EndpointPaths, 'fsPath'>;
  /** Re-reads the hub's storages (a job may name a storage created after the last load). */
  reloadStorages?: (() => Promise<void>) | undefined;
}

export class JobEndpoints {
  constructor(private readonly options: JobEndpointsOptions) {}

  /** The job's endpoints on the storages the worker knows; throws when the job cannot run as it is. */
  async resolve(job: Job): Promise<{ source: Endpoint; destination: Endpoint }> {
    assertOperation(job);
    const source = endpointOf(job, 'source');
    const destination = endpointOf(job, 'destination');
    return {
      source: await this.onStorage(job, source, 'source'),
      destination: await this.onStorage(job, destination, 'destination'),
    };
  }

  /** The rclone paths of both endpoints (`<remote>:<path>`, local ones confined). */
  async fsPaths(endpoints: { source: Endpoint; destination: Endpoint }): Promise<{ srcFs: string; dstFs: string }> {
    const { source, destination } = endpoints;
    return {
      srcFs: await this.options.paths.fsPath(source.storage, source.path, 'source'),
      dstFs: await this.options.paths.fsPath(destination.storage, destination.path, 'destination'),
    };
  }

  /** The storages a job uses, as far as the worker knows them. */
  storagesOf(job: Job): Storage[] {
    return uniqueStorages(storageIdsOf(job).map((id) => this.options.catalog.byId(id)));
  }

  private async onStorage(job: Job, endpoint: { storageId: number; path: string }, side: Side): Promise<Endpoint> {
    let storage = this.options.catalog.byId(endpoint.storageId);
    if (!storage && this.options.reloadStorages) {
      await this.options.reloadStorages();
      storage = this.options.catalog.byId(endpoint.storageId);
    }
    if (!storage) throw new StorageError(`job ${job.id}: ${side} storage ${endpoint.storageId} is unknown to the hub`, undefined);
    return { storage, path: endpoint.path };
  }
}
