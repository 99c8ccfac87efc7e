import { createRequire } from 'node:module'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

// s3rver ships no types; this is the part of its API the tests use.
interface S3rverOptions {
  address: string
  port: number
  silent: boolean
  directory: string
  resetOnClose: boolean
  configureBuckets: Array<{ name: string }>
}
interface S3rverInstance {
  httpServer?: Server
  run (): Promise<AddressInfo>
  close (): Promise<void>
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: S3rverOptions) => S3rverInstance

export const S3RVER_CREDENTIAL = 'S3RVER'

export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string
  bucket: string
  /** The environment that points a Lectern Config at this server. */
  env: Record<string, string>
  close (): Promise<void>
}

/** Starts s3rver in this process on a free loopback port, with a temp dir and the bucket created. */
export async function startS3Server ({ bucket = 'lectern-test' }: { bucket?: string } = {}): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'lectern-s3rver-'))
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    resetOnClose: false,
    configureBuckets: [{ name: bucket }]
  })
  let address
  try {
    address = await server.run()
  } catch (err) {
    await rm(directory, { recursive: true, force: true })
    throw err
  }
  const endpoint = `http://127.0.0.1:${address.port}`
  let closed = false
  return {
    endpoint,
    bucket,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIAL,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIAL
    },
    async close () {
      if (closed) return
      closed = true
      const closing = server.close()
      // Keep-alive sockets of clients (and bodies a test left unread) would hold close() open.
      server.httpServer?.closeAllConnections()
      await closing
      await rm(directory, { recursive: true, force: true })
    }
  }
}

/** startS3Server, closed in the test's teardown. */
export async function s3ServerFor (t: Test, options: { bucket?: string } = {}): Promise<S3Server> {
  const server = await startS3Server(options)
  t.teardown(() => server.close())
  return server
}
