import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { MongoClient } from 'mongodb'
import type { Test } from 'tap'
import { freePort } from './free-port.js'
import { underCi } from './requirements.js'
import { childEnv } from './child-env.js'

// A MongoDB wire-protocol server for tests: MONGODB_URL when given (a real MongoDB, say), else a
// FerretDB 1.x process on SQLite in a temp dir (scripts/install-ferretdb.sh builds one into .tools/bin).

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const START_TIMEOUT_MS = 20_000
// FerretDB runs under the watchdog the Redis helper uses: when the test process goes away, even
// by SIGKILL (tap's timeout), the watchdog's stdin closes and it kills FerretDB.
const WATCHDOG = fileURLToPath(new URL('./child-watchdog.mjs', import.meta.url))

export interface MongoTestServer {
  /** A mongodb:// URL whose path names a database no other test uses. */
  url: string
  /** Where the server came from, for test comments. */
  source: 'MONGODB_URL' | 'ferretdb'
  /** A URL naming another fresh database on the same server. */
  freshUrl (): string
  /** Stops the FerretDB process (or drops the databases it handed out, on MONGODB_URL). */
  stop (): Promise<void>
}

/** The ferretdb binary to run: FERRETDB_PATH, the repo's .tools/bin, then PATH. */
export function ferretDbBinary (): string | undefined {
  const candidates = [process.env.FERRETDB_PATH, join(REPO_ROOT, '.tools', 'bin', 'ferretdb'), 'ferretdb']
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '') continue
    if (candidate.includes('/') && !existsSync(candidate)) continue
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8', timeout: 5000 })
    if (probe.error === undefined && probe.status === 0) return candidate
  }
  return undefined
}

/** Why no MongoDB-protocol server is available here, or undefined if one is. */
export function mongoServerMissing (): string | undefined {
  if (nonEmpty(process.env.MONGODB_URL)) return undefined
  if (ferretDbBinary() !== undefined) return undefined
  return 'neither MONGODB_URL is set nor a ferretdb binary found (.tools/bin/ferretdb or PATH); run scripts/install-ferretdb.sh'
}

function nonEmpty (value: string | undefined): value is string {
  return value !== undefined && value.trim() !== ''
}

/**
 * Skips the test (printing why) when no server is available, except under CI, which builds
 * FerretDB and must not pass by skipping. Returns true when the caller should go on.
 */
export function requireMongoServer (t: Test): boolean {
  const missing = mongoServerMissing()
  if (missing === undefined) return true
  if (underCi()) {
    t.fail(`a MongoDB-protocol server is required in CI: ${missing}`)
  } else {
    t.comment(`skipping: ${missing}`)
    t.plan(0, missing)
  }
  return false
}

export function uniqueDatabaseName (): string {
  return `lectern_test_${process.pid}_${randomBytes(4).toString('hex')}`
}

/** The URL with its database path replaced by name, keeping credentials and options. */
export function withDatabase (url: string, name: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/.exec(url)
  if (match === null) throw new Error(`not a mongodb:// URL: ${url}`)
  const query = match[3] ?? ''
  return `${match[1]}/${name}${query}`
}


async function ping (url: string, timeoutMs: number): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs })
  try {
    await client.connect()
    await client.db('admin').command({ ping: 1 })
  } finally {
    await client.close().catch(() => {})
  }
}

async function dropDatabases (url: string, names: string[]): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 })
  try {
    await client.connect()
    for (const name of names) await client.db(name).dropDatabase()
  } finally {
    await client.close().catch(() => {})
  }
}

async function waitForExit (child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  // Through the watchdog when there is one, so FerretDB itself is killed, not just the watchdog.
  const timer = setTimeout(() => { if (child.stdin?.writable === true) child.stdin.write('SIGKILL\n'); else child.kill('SIGKILL') }, timeoutMs)
  try {
    await once(child, 'exit')
  } finally {
    clearTimeout(timer)
  }
}

/** Starts (or connects to) a MongoDB-protocol server and stops it when the test ends. Call requireMongoServer first. */
export async function startMongoServer (t: Test): Promise<MongoTestServer> {
  const server = nonEmpty(process.env.MONGODB_URL)
    ? await useGivenServer(process.env.MONGODB_URL)
    : await startFerretDb()
  t.teardown(() => server.stop())
  return server
}

async function useGivenServer (baseUrl: string): Promise<MongoTestServer> {
  const names: string[] = []
  const freshUrl = () => {
    const name = uniqueDatabaseName()
    names.push(name)
    return withDatabase(baseUrl, name)
  }
  await ping(withDatabase(baseUrl, 'admin'), 5000)
  return {
    url: freshUrl(),
    source: 'MONGODB_URL',
    freshUrl,
    stop: () => dropDatabases(baseUrl, names)
  }
}

async function startFerretDb (): Promise<MongoTestServer> {
  const binary = ferretDbBinary()
  if (binary === undefined) throw new Error('no ferretdb binary; call requireMongoServer first')
  const dir = await mkdtemp(join(tmpdir(), 'lectern-ferretdb-'))
  const port = await freePort()
  const child = spawn(process.execPath, [WATCHDOG, binary,
    '--handler=sqlite',
    `--sqlite-url=file:${dir}/`,
    `--listen-addr=127.0.0.1:${port}`,
    `--state-dir=${dir}`,
    // '-' turns the debug HTTP listener off; its fixed default port would clash between tests.
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=error'
  ], { stdio: ['pipe', 'ignore', 'pipe'], env: childEnv() })
  child.stdin!.on('error', () => {})
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.stdin!.write('SIGTERM\n')
    await waitForExit(child, 5000)
    await rm(dir, { recursive: true, force: true })
  }

  const base = `mongodb://127.0.0.1:${port}`
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(`ferretdb exited (${child.exitCode ?? child.signalCode}) before accepting connections: ${stderr.trim()}`)
    }
    try {
      await ping(`${base}/admin`, 500)
      break
    } catch (err) {
      if (Date.now() > deadline) {
        await stop()
        throw new Error(`ferretdb did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms: ${(err as Error).message} ${stderr.trim()}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return {
    url: withDatabase(base, uniqueDatabaseName()),
    source: 'ferretdb',
    freshUrl: () => withDatabase(base, uniqueDatabaseName()),
    stop
  }
}
