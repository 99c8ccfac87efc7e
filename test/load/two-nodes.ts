import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../src/config.js'
import { openDatabase } from '../../src/db/open-database.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import { tempDir } from '../helpers/config.js'
import { freePort } from '../helpers/free-port.js'
import { childEnv } from '../helpers/child-env.js'
import { startMongoServer } from '../helpers/ferretdb-server.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { silentLog } from '../transcoder/fixtures.js'
import type { Video } from '../../src/db/documents.js'

// Two API nodes (one FerretDB, one object store on this disk) behind nginx with the repository's
// nginx.conf, and one public video found through search: the stage of the fault tests.

export const root = fileURLToPath(new URL('../..', import.meta.url))

async function nginxConfig (dir: string, upstreams: string[], port: number): Promise<string> {
  let i = 0
  const conf = (await readFile(join(root, 'nginx/nginx.conf'), 'utf8'))
    .replace(/server api\d:3000/g, () => `server ${upstreams[i++]!}`)
    // No edge log listener here: the syslog lines go to the discard port.
    .replace(/syslog:server=api\d:5140/g, 'syslog:server=127.0.0.1:9')
    .replace('access_log /var/log/nginx/access.log', `access_log ${join(dir, 'logs/access.log')}`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
    .replace('/var/cache/nginx/lectern', join(dir, 'cache'))
    .replace(/^http \{$/m, ['http {', ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, 'temp', k)};`)].join('\n'))
  if (i !== 2) throw new Error(`nginx.conf has ${i} upstream servers; this test expects two`)
  return conf
}

export interface TwoNodes { lb: string, ports: number[], nodes: ChildProcess[], nginxDir: string, children: ChildProcess[], dataDir: string, video: Video }

export async function twoNodesBehindNginx (t: Test, extraEnv: Record<string, string> = {}): Promise<TwoNodes> {
  const mongo = await startMongoServer(t)
  // Both nodes share the metadata (FerretDB) and the objects (one DATA_DIR on this disk).
  const dataDir = await tempDir(t, 'lectern-killed-')
  const env = { DATA_DIR: dataDir, MONGODB_URL: mongo.url, JWT_SECRET: randomBytes(32).toString('hex'), WORKER: 'off', TRUST_PROXY: 'true', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...extraEnv }
  const config = loadConfig(env)
  const storage = await createObjectStore(config, silentLog)
  const db = await openDatabase(config, silentLog)
  t.teardown(async () => { await db.close(); await storage.close() })
  const { video } = await publishVideo({ storage, db } as unknown as FastifyInstance, await makeLadder(t, 30))

  const children: ChildProcess[] = []
  t.teardown(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') })
  const ports = [await freePort(), await freePort()]
  const nodes = ports.map((port) => {
    // LECTERN_BUILT=1 (measurements): the nodes run tsc's build, as `npm start` does; tests run the sources.
    const args = process.env.LECTERN_BUILT === '1' ? ['dist/src/server.js'] : ['--import', 'tsx', 'src/server.ts']
    const child = spawn(process.execPath, args, { cwd: root, env: childEnv({ ...env, PORT: String(port) }), stdio: ['ignore', 'ignore', 'inherit'] })
    children.push(child)
    return child
  })
  for (const port of ports) {
    for (let i = 0; (await fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.status, () => 0)) !== 200; i++) {
      if (i > 600) throw new Error(`node on ${port} did not start`)
      await sleep(100)
    }
  }

  const nginxDir = await tempDir(t, 'lectern-killed-nginx-')
  await chmod(nginxDir, 0o755)
  await mkdir(join(nginxDir, 'logs'))
  await mkdir(join(nginxDir, 'temp'))
  const nginxPort = await freePort()
  const conf = join(nginxDir, 'nginx.conf')
  await writeFile(conf, await nginxConfig(nginxDir, ports.map((p) => `127.0.0.1:${p}`), nginxPort))
  const nginx = spawn('nginx', ['-p', nginxDir, '-c', conf, '-g', `daemon off; pid ${join(nginxDir, 'nginx.pid')}; error_log ${join(nginxDir, 'logs/error.log')} warn;`], { stdio: 'ignore' })
  t.teardown(() => { if (nginx.exitCode === null) nginx.kill('SIGTERM') })
  const lb = `http://127.0.0.1:${nginxPort}`
  for (let i = 0; ; i++) {
    const found = await fetch(`${lb}/api/search`).then(async (r) => (r.ok ? ((await r.json()) as { items: unknown[] }).items.length : 0), () => 0)
    if (found > 0) break
    if (i > 300) throw new Error('the video is not found through nginx')
    await sleep(100)
  }

  return { lb, ports, nodes, nginxDir, children, dataDir, video }
}

/** Runs npm run load against `base`; `during` is called once the run reaches its `at`-th second. */
export async function loadWhile (base: string, viewers: number, seconds: number, at: number, during: () => Promise<void> | void, children: ChildProcess[]): Promise<{ code: number | null, stderr: string, report: string, result: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const load = spawn(process.execPath, ['--import', 'tsx', 'test/load/run.ts', '--url', base, '--viewers', String(viewers), '--duration', String(seconds), '--uploads', '0', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(load)
  let out = ''
  let err = ''
  load.stdout.on('data', (d: Buffer) => { out += d.toString() })
  load.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const finished = new Promise<number | null>((resolve) => load.once('exit', resolve))
  while (!err.includes(`load: ${at}/${seconds} s`) && load.exitCode === null) await sleep(50)
  await during()
  const code = await finished
  const lines = out.trim().split('\n')
  return { code, stderr: err, report: lines.slice(0, -1).join('\n'), result: code === 0 ? JSON.parse(lines[lines.length - 1]!) : undefined }
}
