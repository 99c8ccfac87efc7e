import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { S3ClientConfig } from '@aws-sdk/client-s3'
import type { S3Config } from '../config.js'

const CONNECT_TIMEOUT_MS = 5000
/**
 * The default of S3_SOCKET_TIMEOUT_MS. A socket on which nothing moves for this long fails its
 * call (the SDK then retries it, up to its 3 attempts): a store that accepts connections but no
 * longer answers does not hold requests forever. Idle time, not a total: a slow but moving upload
 * part is never cut (10 s cut a 2 GB upload's part under a loaded CI). A GetObject body is exempt
 * once it is handed out (S3ObjectStore.get), since its reader sets the pace.
 */
export const SOCKET_IDLE_TIMEOUT_MS = 30_000

/**
 * The S3 client settings every S3 user in Lectern shares (the object store, the tus upload store):
 * endpoint, path style, credentials (or the SDK's default chain: env, shared files, instance or
 * task roles), keep-alive agents with `maxSockets`, and checksums only when required. The default
 * (WHEN_SUPPORTED) sends streamed bodies aws-chunked with trailing checksums, which several
 * S3-compatible stores save verbatim: corrupt objects (see TESTING.md).
 */
export function s3ClientConfig (config: S3Config, maxSockets: number): S3ClientConfig {
  const credentials = config.accessKeyId !== undefined && config.secretAccessKey !== undefined
    ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
    : undefined
  return {
    region: config.region,
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(credentials !== undefined ? { credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: config.socketTimeoutMs ?? SOCKET_IDLE_TIMEOUT_MS,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets })
    }
  }
}
