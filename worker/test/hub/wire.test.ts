import { describe, expect, it } from 'vitest';
import { JobState, type Job } from '../../../shared/hannibal.js';
import { assertOperation, endpointOf, MalformedJobError, readStorage, storageIdsOf } from '../../src/hub/wire.js';

const job = (fields: Record<string, unknown>): Job => ({ id: 7, operation: 1, owner: 'w', state: JobState.Executing, sourceEndpointId: 1, destinationEndpointId: 2, ...fields }) as Job;

describe('readStorage', () => {
  it('accepts a row with extra members and nulls, refuses wrong types naming the field only', () => {
    expect(readStorage({ id: 3, technology: 'gcs', uriSchema: 'g', accessToken: null, lazyLoader: {}, port: 0 })).toHaveProperty('storage');
    expect(readStorage({ id: 3, technology: 'gcs', uriSchema: '' })).toEqual({ id: 3, problem: 'uriSchema is a string, not text' });
    expect(readStorage({ id: 3, technology: 'nextcloud', uriSchema: 'nc', port: '443' })).toEqual({ id: 3, problem: 'port is a string, not a number' });
    expect(readStorage({ id: 3, technology: 'nextcloud', uriSchema: 'nc', password: ['s3cret'] })).toEqual({ id: 3, problem: 'password is an array, not text' });
    expect(readStorage({ id: -1, technology: 'local', uriSchema: 'd' })).toEqual({ id: undefined, problem: 'its id is a number, not a positive integer' });
    expect(JSON.stringify(readStorage({ id: 3, technology: 'gcs', uriSchema: 'g', refreshToken: 12345 }))).not.toContain('12345');
  });
});

describe('a job body', () => {
  it('names its storages by storageId or by the embedded storage', () => {
    expect(endpointOf(job({ sourceEndpoint: { id: 1, storageId: 4, path: '/a' } }), 'source')).toEqual({ storageId: 4, path: '/a' });
    expect(endpointOf(job({ destinationEndpoint: { id: 2, storage: { id: 5 }, path: null } }), 'destination')).toEqual({ storageId: 5, path: '' });
  });

  it.each([
    ['a missing endpoint', {}, 'its source endpoint is missing, not an object'],
    ['an endpoint naming no storage', { sourceEndpoint: { id: 1, path: '/a' } }, 'its source endpoint names no storage'],
    ['a path that is not text', { sourceEndpoint: { id: 1, storageId: 4, path: ['/etc'] } }, 'its source path is an array, not text'],
  ])('%s is a malformed job', (_what, fields, says) => {
    expect(() => endpointOf(job(fields), 'source')).toThrow(MalformedJobError);
    expect(() => endpointOf(job(fields), 'source')).toThrow(says);
    expect(storageIdsOf(job(fields))).toEqual([]);
  });

  it('an operation that is not an integer is malformed; an unknown integer is unsupported', () => {
    expect(() => { assertOperation(job({ operation: 'sync' })); }).toThrow(expect.objectContaining({ kind: 'malformed' }) as Error);
    expect(() => { assertOperation(job({ operation: 9 })); }).toThrow(expect.objectContaining({ kind: 'unsupported' }) as Error);
    expect(() => { assertOperation(job({ operation: 2 })); }).not.toThrow();
  });
});
