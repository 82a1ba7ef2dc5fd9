/**
 * What the OneDrive stand-in counts, beyond the shared OAuth counters (token requests by user
 * agent, client and generation; 401s by call and user agent; requests per access token): the
 * Graph calls, and per file path the upload sessions opened and the bytes received, so a test
 * can tell "every byte uploaded once" from "a file was sent twice".
 */
import type { ThrottleStats } from '../gcs/throttle.js';
import { createOAuthStats, type OAuthStats } from '../oauth/stats.js';

export interface OnedriveStandinStats extends OAuthStats, ThrottleStats {
  /** Graph and upload-URL requests by call (`getItem`, `listChildren`, `createUploadSession`, `uploadChunk`, …). */
  requestsByCall: Map<string, number>;
  /** Upload sessions created, by the file's path (`/backup/a.bin`). */
  uploadSessionsByPath: Map<string, number>;
  /** Body bytes received for a file (chunks and simple uploads, including chunks cut short), by path. */
  bytesReceivedByPath: Map<string, number>;
  /** Uploads that completed (file written), by path. */
  completedUploadsByPath: Map<string, number>;
  /** Size of the first upload of each path that completed (what "every byte once" is measured against). */
  firstUploadSizeByPath: Map<string, number>;
  /** Fingerprints of the access tokens that chunk PUTs carried, by path (a token switch inside a session shows here). */
  uploadTokensByPath: Map<string, Set<string>>;
  /**
   * Requests to an upload URL that carried an access token that was not valid at that moment.
   * They are accepted (the URL is the credential, as at Microsoft) unless `uploadUrlAuth` is
   * `'bearer'`; the lab calls this `staleOnPreauth`.
   */
  invalidTokenOnUploadUrl: number;
}

export function createStats(): OnedriveStandinStats {
  return {
    ...createOAuthStats(),
    throttleDelayMs: 0,
    requestsByCall: new Map(),
    uploadSessionsByPath: new Map(),
    bytesReceivedByPath: new Map(),
    completedUploadsByPath: new Map(),
    firstUploadSizeByPath: new Map(),
    uploadTokensByPath: new Map(),
    invalidTokenOnUploadUrl: 0,
  };
}
