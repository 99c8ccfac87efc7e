import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.js'
import { tempDir } from '../helpers/config.js'
import { requireTools, toolPath } from '../helpers/requirements.js'

const root = new URL('../../', import.meta.url).pathname
const run = promisify(execFile)

interface Service { build?: unknown, image?: string, command?: string[], environment?: Record<string, string>, depends_on?: unknown }

// There is no Docker engine here, so compose.yaml is checked by validation: its structure, and
// that every Lectern setting in it is one that Lectern's own config schema accepts.
t.test('compose.yaml describes the scaled-out topology with settings Lectern accepts', async (t) => {
  const doc = parse(await readFile(join(root, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
  const services = doc.services
  for (const name of ['nginx', 'api1', 'api2', 'worker', 'redis', 'mongo', 'minio']) t.ok(services[name], `service ${name}`)
  t.same(services.worker?.command, ['node', 'dist/transcoder/worker-main.js'])
  for (const name of ['api1', 'api2', 'worker']) {
    const env = Object.fromEntries(Object.entries(services[name]?.environment ?? {})
      .map(([k, v]) => [k, String(v).replace(/\$\{[^}]+\}/g, 'x'.repeat(40))]))
    const config = loadConfig(env)
    t.equal(config.redisUrl, 'redis://redis:6379', `${name} shares Redis`)
    t.equal(config.mongodbUrl, 'mongodb://mongo:27017/lectern', `${name} shares MongoDB`)
    t.equal(config.s3?.bucket, 'lectern', `${name} shares the bucket`)
    t.equal(config.s3?.forcePathStyle, true)
    t.ok(config.jwtSecret, `${name} shares JWT_SECRET`)
    t.equal(config.host, '0.0.0.0')
  }
  t.equal(services.api1?.environment?.WORKER, 'off', 'API nodes only serve; the worker transcodes')
})

t.test('nginx.conf is valid for nginx -t once the upstream names resolve', async (t) => {
  if (!requireTools(t, 'nginx')) return
  const nginx = toolPath('nginx')
  const dir = await tempDir(t)
  await mkdir(join(dir, 'logs'))
  const conf = (await readFile(join(root, 'nginx/nginx.conf'), 'utf8'))
    .replace(/server api\d:3000/g, 'server 127.0.0.1:3000')
    .replace(/syslog:server=api\d:5140/g, 'syslog:server=127.0.0.1:5140')
    .replace('access_log /var/log/nginx/access.log', `access_log ${join(dir, 'logs/access.log')}`)
    .replace('/var/cache/nginx/lectern', join(dir, 'cache'))
  const file = join(dir, 'nginx.conf')
  await writeFile(file, conf.replace('listen 80;', 'listen 127.0.0.1:18080;'))
  const result = await run(nginx, ['-t', '-p', dir, '-c', file, '-g', `pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'logs/error.log')};`])
    .then((r) => ({ ok: true, out: r.stderr }), (e: { stderr: string }) => ({ ok: false, out: e.stderr }))
  t.ok(result.ok, result.out)
  t.match(result.out, /syntax is ok/)
})
