/**
 * Wire samples of the real Hannibal hub (tweggen/backer at 3d9d354), from the lab report
 * research/real-hannibal.md: §8 (`GET /jobs/1` after completion, `GET /users/-1`), §6 (the
 * storage PUT), §5 (the acquire request). The lab shortened nested objects (`{…}`) and secrets;
 * here the endpoint of §8 and the storage of §6 fill them in, and ids, tokens and paths are
 * made up. Member order is the hub's.
 */

export const SAMPLE_STORAGE = {
  id: 1,
  userId: '2d69c5e3-0000-4000-8000-000000000001',
  technology: 'local',
  uriSchema: 'lablocal',
  networks: '',
  oAuth2Email: '',
  clientId: '',
  clientSecret: '',
  accessToken: '',
  refreshToken: '',
  expiresAt: '2026-11-29T23:19:20.10912Z',
  username: '',
  password: '',
  host: '',
  port: null,
  domain: '',
  createdAt: '2026-11-29T23:19:20.109118Z',
  updatedAt: '2026-11-29T23:19:20.109119Z',
  isActive: true,
};

export const SAMPLE_ENDPOINT = {
  id: 1,
  name: 'lab-src',
  userId: '2d69c5e3-0000-4000-8000-000000000001',
  storageId: 1,
  storage: SAMPLE_STORAGE,
  path: '/scratch/src',
  comment: 'lab source',
  createdAt: '0001-01-01T00:00:00',
  updatedAt: '0001-01-01T00:00:00',
  isActive: true,
};

export const SAMPLE_RULE = {
  id: 1,
  name: 'lab copy src to dst',
  comment: 'lab',
  userId: '2d69c5e3-0000-4000-8000-000000000001',
  sourceEndpointId: 1,
  sourceEndpoint: SAMPLE_ENDPOINT,
  destinationEndpointId: 2,
  destinationEndpoint: { ...SAMPLE_ENDPOINT, id: 2, name: 'lab-dst', path: '/scratch/dst', comment: 'lab destination' },
  operation: 1,
  maxDestinationAge: '1.00:00:00',
  minRetryTime: '00:15:00',
  maxTimeAfterSourceModification: '00:00:00',
  dailyTriggerTime: '00:00:00',
};

/** `GET /api/hannibal/v1/jobs/1` after completion; the acquire answer has the same shape with `owner` set and `state: 2`. */
export const SAMPLE_JOB = {
  fromRule: SAMPLE_RULE,
  sourceEndpoint: SAMPLE_RULE.sourceEndpoint,
  destinationEndpoint: SAMPLE_RULE.destinationEndpoint,
  lazyLoader: {},
  id: 1,
  userId: '2d69c5e3-0000-4000-8000-000000000001',
  tag: '[Scheduler] lab copy src to dst',
  operation: 1,
  fromRuleId: 1,
  owner: '',
  state: 4,
  startFrom: '2026-11-29T23:19:53.42731Z',
  endBy: '2026-11-30T23:19:53.42731Z',
  lastReported: '2026-11-29T23:19:53.595133Z',
  sourceEndpointId: 1,
  destinationEndpointId: 2,
  status: 0,
};

/**
 * The members of `GET /api/hannibal/v1/users/-1`: ASP.NET's `IdentityUser`, secrets included, plus
 * the proxy's `lazyLoader` (the lab names them; their order here is not the lab's).
 */
export const SAMPLE_USER_KEYS = [
  'lazyLoader',
  'id',
  'userName',
  'normalizedUserName',
  'email',
  'normalizedEmail',
  'emailConfirmed',
  'passwordHash',
  'securityStamp',
  'concurrencyStamp',
  'phoneNumber',
  'phoneNumberConfirmed',
  'twoFactorEnabled',
  'lockoutEnd',
  'lockoutEnabled',
  'accessFailedCount',
];

/** The acquire body the TypeScript worker sent (§5). */
export const SAMPLE_ACQUIRE = { username: 'lab@example.test', capabilities: 'rclone', owner: 'vm-69c6abb1', networks: 'lab-net' };

/**
 * The JSON "shape" of a value: objects keep their member order, leaves become their type name,
 * so two documents compare equal when they have the same members in the same order with values
 * of the same kinds.
 */
export function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.map(shapeOf);
  if (typeof value === 'object') return Object.entries(value).map(([key, member]) => [key, shapeOf(member)]);
  return typeof value;
}
