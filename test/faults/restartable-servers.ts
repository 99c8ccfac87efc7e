import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { MongoClient } from 'mongodb'
import type { Test } from 'tap'
import { childEnv } from '../helpers/child-env.js'
import { ferretDbBinary, uniqueDatabaseName, withDatabase } from '../helpers/ferretdb-server.js'
import { freePort } from '../helpers/free-port.js'
import { underCi } from '../helpers/requirements.js'
import { S3RVER_CREDENTIAL } from '../helpers/s3-server.js'
import { untilStopped, untilWatchedStopped } from '../helpers/process-state.js'

// Servers a fault test takes away and brings back: the same port and the same files each time,
// so the clients Lectern holds find them again without being told. Each runs under the
// watchdog (or, for s3rver, watches its stdin), so a killed test leaves nothing behind.

const WATCHDOG = fileURLToPath(new URL('../helpers/child-watchdog.mjs', import.meta.url))
const S3RVER_MAIN = fileURLToPath(new URL('../helpers/s3rver-main.mjs', import.meta.url))
const START_TIMEOUT_MS = 20_000

export interface RestartableServer {
  /** Starts it again on the same port with the same data; it must be stopped. */
  start (): Promise<void>
  /** Stops it as a crash does (SIGKILL) and waits for the exit. */
  kill (): Promise<void>
  /**
   * SIGSTOP: a server that hangs. Its kernel still completes TCP handshakes and buffers what
   * clients send, but nothing answers. Undone by resume() (and by the teardown). Resolves once
   * the server is stopped: the signal takes effect some time after it is sent.
   */
  pause (): Promise<void>
  /** SIGCONT: it answers again, everything buffered meanwhile included. Resolves once it runs. */
  resume (): Promise<void>
}

export interface RestartableFerretDb extends RestartableServer {
  /** A mongodb:// URL naming a database of its own. */
  url: string
}

async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await once(child, 'exit')
}

async function pingMongo (url: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 })
  try {
    await client.connect()
    await client.db('admin').command({ ping: 1 })
  } finally {
    await client.close().catch(() => {})
  }
}

/** FerretDB on SQLite in a temp dir, on a reserved port, stopped and removed after the test. */
export async function restartableFerretDb (t: Test): Promise<RestartableFerretDb> {
  const binary = ferretDbBinary()
  if (binary === undefined) throw new Error('no ferretdb binary; call requireMongoServer first')
  const dir = await mkdtemp(join(tmpdir(), 'lectern-faults-ferretdb-'))
  const port = await freePort()
  const base = `mongodb://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let stderr = ''

  async function start (): Promise<void> {
    if (child !== undefined) throw new Error('ferretdb is running already')
    const proc = spawn(process.execPath, [WATCHDOG, binary!, '--handler=sqlite', `--sqlite-url=file:${dir}/`,
      `--listen-addr=127.0.0.1:${port}`, `--state-dir=${dir}`, '--debug-addr=-', '--telemetry=disable', '--log-level=error'],
    { stdio: ['pipe', 'ignore', 'pipe'], env: childEnv() })
    child = proc
    proc.stdin!.on('error', () => {})
    proc.stderr!.setEncoding('utf8')
    proc.stderr!.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`ferretdb exited while starting: ${stderr.trim()}`)
      try {
        await pingMongo(`${base}/admin`)
        return
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`ferretdb did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms: ${(err as Error).message} ${stderr.trim()}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  async function signal (sig: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const proc = child
    if (proc === undefined) return
    child = undefined
    // Through the watchdog, so FerretDB itself gets the signal (after a SIGCONT: a stopped
    // process keeps a SIGTERM pending).
    if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.write(`SIGCONT\n${sig}\n`)
    await exited(proc)
  }

  /** Sends `sig` through the watchdog and returns once FerretDB is stopped (or running again). */
  async function pausing (sig: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    if (child === undefined) {
      // Resuming what has stopped since (a teardown) is nothing to do.
      if (sig === 'SIGCONT') return
      throw new Error('ferretdb is not running')
    }
    child.stdin!.write(`${sig}\n`)
    await untilWatchedStopped(child.pid!, sig === 'SIGSTOP')
  }

  t.teardown(async () => {
    await signal('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  })
  await start()
  return {
    url: withDatabase(base, uniqueDatabaseName()),
    start,
    kill: () => signal('SIGKILL'),
    pause: () => pausing('SIGSTOP'),
    resume: () => pausing('SIGCONT')
  }
}

export interface RestartableS3rver extends RestartableServer {
  bucket: string
  /** The environment that points a Lectern Config at it. */
  env: Record<string, string>
}

/** s3rver with its objects in a temp dir, on a reserved port, stopped and removed after the test. */
export async function restartableS3rver (t: Test, bucket = 'lectern-faults'): Promise<RestartableS3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'lectern-faults-s3rver-'))
  const port = await freePort()
  let child: ChildProcess | undefined

  async function start (): Promise<void> {
    if (child !== undefined) throw new Error('s3rver is running already')
    const proc = spawn(process.execPath, ['--openssl-legacy-provider', S3RVER_MAIN, directory, bucket, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: childEnv()
    })
    child = proc
    proc.stdin!.on('error', () => {})
    const said = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
      proc.once('exit', (code, sig) => reject(new Error(`s3rver exited while starting (code ${String(code)}, signal ${String(sig)})`)))
      createInterface({ input: proc.stdout! }).once('line', (line) => {
        clearTimeout(timer)
        resolve(line)
      })
    })
    if ((JSON.parse(said) as { port: number }).port !== port) throw new Error(`s3rver said ${said}, not port ${port}`)
  }

  async function kill (): Promise<void> {
    const proc = child
    if (proc === undefined) return
    child = undefined
    proc.kill('SIGKILL')
    await exited(proc)
  }

  /** Signals s3rver and returns once it is stopped (or running again). */
  async function pausing (sig: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    if (child === undefined) {
      // Resuming what has stopped since (a teardown) is nothing to do.
      if (sig === 'SIGCONT') return
      throw new Error('s3rver is not running')
    }
    child.kill(sig)
    await untilStopped(child.pid!, sig === 'SIGSTOP')
  }

  t.teardown(async () => {
    await kill()
    await rm(directory, { recursive: true, force: true })
  })
  await start()
  return {
    bucket,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: S3RVER_CREDENTIAL,
      S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIAL
    },
    start,
    kill,
    pause: () => pausing('SIGSTOP'),
    resume: () => pausing('SIGCONT')
  }
}

/** The keys under prefix in the test's bucket, listed by a client of the test's own. */
export async function keysIn (s3: RestartableS3rver, prefix: string): Promise<string[]> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: s3.env.S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.env.S3_ACCESS_KEY_ID!, secretAccessKey: s3.env.S3_SECRET_ACCESS_KEY! }
  })
  try {
    const out = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))
    return (out.Contents ?? []).map((o) => o.Key!)
  } finally {
    client.destroy()
  }
}

/** Whether FerretDB can be run here; without it the test says why (and fails under CI). */
export function haveFerretDb (t: Test): boolean {
  if (ferretDbBinary() !== undefined) return true
  const why = 'no ferretdb binary (.tools/bin/ferretdb or PATH); run scripts/install-ferretdb.sh'
  if (underCi()) t.fail(`required in CI: ${why}`)
  else t.plan(0, why)
  return false
}
