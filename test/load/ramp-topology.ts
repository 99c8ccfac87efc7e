import { spawn, spawnSync } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { tempDir } from '../helpers/config.js'
import { freePort } from '../helpers/free-port.js'
import { root, twoNodesBehindNginx } from './two-nodes.js'

// Not part of the suite (a measurement, minutes long): `node --import tsx test/load/ramp-topology.ts`.
// The same ramp (npm run load -- --ramp) against one API node, nginx with two nodes (the repository's
// nginx.conf), and nginx serving the segment files from disk itself (the ceiling), on one stage.

t.test('ramp: one node, nginx with two nodes, nginx serving the files', { timeout: 3_600_000 }, async (t) => {
  // The nodes run tsc's build, as `npm start` does.
  spawnSync(process.execPath, ['scripts/build-if-needed.mjs'], { cwd: root, stdio: 'inherit' })
  process.env.LECTERN_BUILT = '1'
  const stage = await twoNodesBehindNginx(t)
  const dir = await tempDir(t, 'lectern-ceiling-')
  await chmod(dir, 0o755)
  await mkdir(join(dir, 'logs'))
  const port = await freePort()
  const objects = join(stage.dataDir, 'objects', 'videos', stage.video._id, stage.video.version!)
  // nginx run as root reads files as an unprivileged user.
  spawnSync('chmod', ['-R', 'a+rX', stage.dataDir])
  await writeFile(join(dir, 'nginx.conf'), `worker_processes auto;
events { worker_connections 4096; }
http {
  sendfile on; tcp_nopush on; access_log off; keepalive_timeout 65;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${join(dir, k)};`).join(' ')}
  server {
    listen 127.0.0.1:${port};
    location ~ ^/hls/[^/]+/([^/]+)/(segment-[0-9]+\\.ts)$ { alias ${objects}/$1/$2; }
    location / { proxy_pass http://127.0.0.1:${stage.ports[1]}; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`)
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'logs/error.log')} warn;`], { stdio: 'ignore' })
  t.teardown(() => { if (nginx.exitCode === null) nginx.kill('SIGTERM') })
  await sleep(500)
  const targets: Array<[string, string]> = [
    ['one API node', `http://127.0.0.1:${stage.ports[0]}`],
    ['nginx, two API nodes', stage.lb],
    ['nginx serving the segment files', `http://127.0.0.1:${port}`]
  ]
  // RAMP_TARGETS=2 measures only the second target, and so on (a comma list of 1-based indexes).
  // RAMP_ROUNDS rounds (default 3) interleave the targets, so that the machine's other load falls on all alike.
  // RAMP_FROM (50) is the first step's viewers, RAMP_MAX (20000) the most a ramp tries.
  const only = process.env.RAMP_TARGETS?.split(',').map(Number)
  const rounds = Number(process.env.RAMP_ROUNDS ?? 3)
  const held = new Map<string, number[]>()
  for (let round = 1; round <= rounds; round++) {
    for (const [name, base] of targets.filter((_, i) => only === undefined || only.includes(i + 1))) {
      const out = await new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/load/run.ts', '--url', base, '--ramp', '--viewers', process.env.RAMP_FROM ?? '50', '--max-viewers', process.env.RAMP_MAX ?? '20000', '--duration', '10', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
        let text = ''
        child.stdout.on('data', (d: Buffer) => { text += d.toString() })
        child.once('exit', () => resolve(text))
      })
      const lines = out.trim().split('\n')
      const result = JSON.parse(lines[lines.length - 1]!)
      held.set(name, [...(held.get(name) ?? []), result.maxViewers])
      t.comment(`round ${round}, ${name}: ${result.maxViewers} viewers held; steps ${result.steps.map((s: { viewers: number, stalledViewers: number, errors: number, segmentLatencyMs: { p99: number } }) => `${s.viewers}: stalled ${s.stalledViewers}, errors ${s.errors}, p99 ${s.segmentLatencyMs.p99} ms`).join('; ')}`)
      t.pass(`${name}, round ${round}`)
    }
  }
  for (const [name, xs] of held) {
    const sorted = [...xs].sort((a, b) => a - b)
    t.comment(`${name}: median ${sorted[Math.floor(sorted.length / 2)]} viewers held, rounds ${sorted[0]}-${sorted[sorted.length - 1]} (${xs.join(', ')})`)
  }
})
