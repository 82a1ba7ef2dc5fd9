/**
 * The OneDrive stand-in behind the TLS proxy, as the real rclone sees it, with the remote the
 * worker itself would build: the worker's `me/drive` lookup against the stand-in and the
 * worker's `buildRemoteSpec` for a OneDrive storage row (`drive_id`, `drive_type`, a token of
 * `{access_token, token_type, expiry}` only, `token_url`).
 */
import type { Storage } from '../../shared/hannibal.js';
import { graphDriveLookup } from '../../worker/src/storage/onedrive-drive.js';
import { buildRemoteSpec } from '../../worker/src/storage/remote-spec.js';
import type { Grant } from '../standins/oauth/authority.js';
import { OnedriveStandin, type OnedriveStandinOptions } from '../standins/onedrive/server.js';
import { TlsProxy } from '../standins/tls-proxy/proxy.js';

export interface OnedriveRig {
  standin: OnedriveStandin;
  proxy: TlsProxy;
  /** What rclone needs in its environment to reach the stand-in (HTTPS_PROXY, SSL_CERT_FILE). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startOnedriveRig(options: OnedriveStandinOptions = {}): Promise<OnedriveRig> {
  const standin = await OnedriveStandin.start(options);
  const proxy = await TlsProxy.start({ routes: standin.proxyRoutes() });
  return {
    standin,
    proxy,
    env: { HTTPS_PROXY: proxy.url, SSL_CERT_FILE: proxy.caFile },
    async close() {
      await proxy.close();
      await standin.close();
    },
  };
}

/**
 * The rclone parameters the worker builds for a OneDrive storage holding `accessToken`
 * (valid until `expiresAt`), with the drive found by the worker's own Graph lookup.
 */
export async function workerOnedriveParameters(standin: OnedriveStandin, uriSchema: string, grant: Pick<Grant, 'accessToken' | 'expiresAt'>): Promise<Record<string, string>> {
  const drive = await graphDriveLookup(standin.graphUrl)(grant.accessToken, uriSchema);
  const storage: Storage = { id: 1, technology: 'onedrive', uriSchema };
  const spec = buildRemoteSpec(storage, {
    token: { access_token: grant.accessToken, token_type: 'Bearer', expiry: grant.expiresAt.toISOString() },
    onedriveDrive: drive,
    tokenUrl: standin.tokenUrl,
  });
  return { type: spec.type, ...spec.parameters };
}
