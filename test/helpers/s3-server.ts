import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { childEnv } from './child-env.js'

const MAIN = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url))
const START_TIMEOUT_MS = 15_000

export const S3RVER_CREDENTIAL = 'S3RVER'

export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string
  bucket: string
  /** s3rver's own directory (objects, and the parts of multipart uploads under `<bucket>/._S3rver_uploads/`). */
  directory: string
  /** The environment that points a Lectern Config at this server. */
  env: Record<string, string>
  /** Stops the server and removes its files; safe to call twice. */
  close (): Promise<void>
}

/**
 * Starts s3rver on a free loopback port, with a temp dir and the bucket created. It runs in a
 * child process of its own (see s3rver-main.mjs for why), which dies with the test process.
 */
export async function startS3Server ({ bucket = 'lectern-test' }: { bucket?: string } = {}): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'lectern-s3rver-'))
  // An explicit environment: the test runner's loaders (NODE_OPTIONS) are not needed for plain JavaScript.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', MAIN, directory, bucket], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: childEnv()
  })
  const exited = once(child, 'exit')
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
      child.once('error', reject)
      child.once('exit', (code, signal) => reject(new Error(`s3rver exited while starting (code ${String(code)}, signal ${String(signal)})`)))
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer)
        try {
          resolve((JSON.parse(line) as { port: number }).port)
        } catch (err) {
          reject(new Error(`s3rver said ${JSON.stringify(line)} instead of its port`, { cause: err }))
        }
      })
    })
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    await rm(directory, { recursive: true, force: true })
    throw err
  }
  const endpoint = `http://127.0.0.1:${port}`
  let closing: Promise<void> | undefined
  return {
    endpoint,
    bucket,
    directory,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIAL,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIAL
    },
    close () {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
          child.kill('SIGTERM')
          await exited
          clearTimeout(timer)
        }
        await rm(directory, { recursive: true, force: true })
      })()
      return closing
    }
  }
}

/** startS3Server, closed in the test's teardown. */
export async function s3ServerFor (t: Test, options: { bucket?: string } = {}): Promise<S3Server> {
  const server = await startS3Server(options)
  t.teardown(() => server.close())
  return server
}
