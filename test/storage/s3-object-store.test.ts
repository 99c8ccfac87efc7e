import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { ObjectNotFoundError } from '../../src/errors.js'
import { S3ObjectStore } from '../../src/storage/s3-object-store.js'
import { s3ServerFor, type S3Server } from '../helpers/s3-server.js'
import { objectStoreContract } from './object-store.contract.js'

const MiB = 1024 * 1024

function storeFor (t: Parameters<typeof s3ServerFor>[0], server: S3Server, env: Record<string, string> = {}): S3ObjectStore {
  const config = loadConfig({ ...server.env, ...env })
  // The smallest part S3 allows, so the contract's 12 MiB object takes three parts.
  const store = new S3ObjectStore({ config: config.s3!, partSize: 5 * MiB })
  t.teardown(() => store.close())
  return store
}

objectStoreContract(t, async (t) => {
  const server = await s3ServerFor(t)
  return { store: storeFor(t, server) }
})
