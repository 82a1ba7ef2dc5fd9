/**
 * What the hub's JSON must look like before anything in the worker acts on it (issue 9.8). The
 * REST client parses; this module decides whether the parsed value is the thing the contract
 * says, and says in one line what is wrong when it is not — naming fields, never their values
 * (a storage row carries secrets). Extra members are fine (the real hub sends `lazyLoader`,
 * embedded rules and endpoints); wrong types are not.
 *
 * - A storage row that is not well formed is refused alone; the other rows are used.
 * - An acquired job without an integer id cannot be taken or even handed back: the answer is a
 *   bad answer (the acquisition retries later; the hub times the job out).
 * - An acquired job with an id but a malformed body is ours at the hub: the runner ends it
 *   `DoneWithErrors` with the reason ({@link MalformedJobError}), never a retry.
 * - A report answer that is not `{status: <integer>}` is a bad answer: the report is kept and sent
 *   again, a heartbeat counts as failed.
 */
import { RuleOperation, type Job, type ReportResult, type Storage } from '../../../shared/hannibal.js';
import { HubError, WorkerError } from '../errors.js';

/** The hub handed out a job this worker cannot run as it is; terminal for the job. */
export class MalformedJobError extends WorkerError {
  /** `unsupported`: well formed, but an operation this worker does not know. */
  readonly kind: 'malformed' | 'unsupported';
  constructor(kind: 'malformed' | 'unsupported', message: string) {
    super('WORKER_ERR_MALFORMED_JOB', message, { permanent: true });
    this.kind = kind;
  }
}

export type Side = 'source' | 'destination';

/** Text members of a storage row: each is a string, null or absent. */
const STORAGE_TEXT = [
  'userId',
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
  'domain',
  'createdAt',
  'updatedAt',
] as const;

const OPERATIONS: ReadonlySet<number> = new Set(Object.values(RuleOperation));

/** A storage row as the worker may use it, or why not. */
export function readStorage(value: unknown): { storage: Storage } | { id: number | undefined; problem: string } {
  if (!isObject(value)) return { id: undefined, problem: `it is ${kindOf(value)}, not an object` };
  const id = isId(value.id) ? value.id : undefined;
  if (id === undefined) return { id, problem: `its id is ${kindOf(value.id)}, not a positive integer` };
  for (const key of ['technology', 'uriSchema'] as const) {
    if (typeof value[key] !== 'string' || value[key] === '') return { id, problem: `${key} is ${kindOf(value[key])}, not text` };
  }
  for (const key of STORAGE_TEXT) {
    const member = value[key];
    if (member !== undefined && member !== null && typeof member !== 'string') return { id, problem: `${key} is ${kindOf(member)}, not text` };
  }
  if (value.port !== undefined && value.port !== null && typeof value.port !== 'number') return { id, problem: `port is ${kindOf(value.port)}, not a number` };
  if (value.isActive !== undefined && value.isActive !== null && typeof value.isActive !== 'boolean') return { id, problem: `isActive is ${kindOf(value.isActive)}, not true or false` };
  return { storage: value as Storage };
}

/** The `GET /storages` answer: the usable rows, and the refused ones with their reasons. */
export function readStorages(value: unknown): { storages: Storage[]; refused: { index: number; id: number | undefined; problem: string }[] } {
  if (!Array.isArray(value)) throw new HubError(`hub storages answer is ${kindOf(value)}, not an array`, 200, { permanent: true });
  const storages: Storage[] = [];
  const refused: { index: number; id: number | undefined; problem: string }[] = [];
  value.forEach((row: unknown, index) => {
    const read = readStorage(row);
    if ('storage' in read) storages.push(read.storage);
    else refused.push({ index, ...read });
  });
  return { storages, refused };
}

/** The `acquireNextJob` answer: anything with a positive integer id can be owned (and reported). */
export function readAcquiredJob(value: unknown): Job {
  if (!isObject(value) || !isId(value.id)) {
    const what = isObject(value) ? `a job whose id is ${typeName(value.id)}` : typeName(value);
    throw new HubError(`hub acquireNextJob answered ${what}: it cannot be taken or handed back without an integer id`, 200);
  }
  return value as Job;
}

/** The `reportJob` answer: `{status: 0}` applied, `{status: -1}` unknown or not Executing. */
export function readReportResult(value: unknown): ReportResult {
  if (!isObject(value) || typeof value.status !== 'number' || !Number.isInteger(value.status)) {
    throw new HubError(`hub reportJob answered ${isObject(value) ? `a status that is ${typeName(value.status)}` : typeName(value)}, not {"status": <integer>}`, 200);
  }
  return { status: value.status };
}

/** The storage an endpoint of a job names and its path; throws a {@link MalformedJobError}. */
export function endpointOf(job: Job, side: Side): { storageId: number; path: string } {
  const endpoint: unknown = side === 'source' ? job.sourceEndpoint : job.destinationEndpoint;
  if (!isObject(endpoint)) throw new MalformedJobError('malformed', `job ${job.id}: its ${side} endpoint is ${typeName(endpoint)}, not an object`);
  const storage = endpoint.storage;
  const storageId = isId(endpoint.storageId) ? endpoint.storageId : isObject(storage) && isId(storage.id) ? storage.id : undefined;
  if (storageId === undefined) throw new MalformedJobError('malformed', `job ${job.id}: its ${side} endpoint names no storage (storageId is ${typeName(endpoint.storageId)})`);
  const path = endpoint.path ?? '';
  if (typeof path !== 'string') throw new MalformedJobError('malformed', `job ${job.id}: its ${side} path is ${typeName(path)}, not text`);
  return { storageId, path };
}

/** Throws a {@link MalformedJobError} when the job's operation is not one this worker runs. */
export function assertOperation(job: Job): void {
  const operation: unknown = job.operation;
  if (typeof operation !== 'number' || !Number.isInteger(operation)) {
    throw new MalformedJobError('malformed', `job ${job.id}: operation is ${typeName(operation)}, not 0 (nop), 1 (copy) or 2 (sync)`);
  }
  if (!OPERATIONS.has(operation)) throw new MalformedJobError('unsupported', `job ${job.id}: operation ${operation} is not supported`);
}

/** The storage ids a job names, for the runner's bookkeeping; what cannot be read is left out. */
export function storageIdsOf(job: Job): number[] {
  const ids: number[] = [];
  for (const side of ['source', 'destination'] as const) {
    try {
      ids.push(endpointOf(job, side).storageId);
    } catch {
      // a malformed endpoint names nothing
    }
  }
  return ids;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** The JSON type of a value; for storage rows, whose members may be secrets. */
function kindOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The JSON type of a value, with numbers and short words shown (job members: ids, operations). */
function typeName(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length <= 12 && /^[\w .-]*$/.test(value) ? `the text ${JSON.stringify(value)}` : 'text';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return `an ${typeof value}`;
}
