import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, type Config } from '../config.js'
import type { ObjectStore } from './object-store.js'
import { FsObjectStore } from './fs-object-store.js'
import { S3ObjectStore } from './s3-object-store.js'
import { instrumentStore } from '../metrics/instrument-store.js'

/** S3 when S3_BUCKET is set, files under DATA_DIR/objects otherwise; its calls are timed for /metrics. */
export async function createObjectStore (config: Config, log: FastifyBaseLogger): Promise<ObjectStore> {
  const s3 = config.s3
  if (s3 !== undefined) {
    // Half a key pair would silently fall through to the SDK's default chain: say so instead.
    if ((s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
      const missing = s3.accessKeyId === undefined ? 'S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)' : 'S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)'
      throw new ConfigError(`${missing}: is not set, but the other half of the S3 key pair is; set both, or neither to use the AWS default credential chain`)
    }
    log.info({ bucket: s3.bucket, endpoint: s3.endpoint ?? 'AWS', region: s3.region }, 'object storage: S3')
    return instrumentStore(new S3ObjectStore({ config: s3, log }))
  }
  const root = join(config.dataDir, 'objects')
  log.info({ root }, 'object storage: files on disk')
  return instrumentStore(await FsObjectStore.open({ root, log }))
}
