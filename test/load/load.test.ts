import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { makeLadder, publishVideo } from '../delivery/fixtures.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { scrape, sum } from '../metrics/scrape.js'

// npm run load against a Lectern on a socket for a few seconds: its JSON (the interface other tools
// read) is checked against what the server itself counted in /metrics over the same time.

requireToolsForFile(t, 'ffmpeg', 'ffprobe')
const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('the load test against a local Lectern: its figures agree with the server\'s', async (t) => {
  const ladder = await makeLadder(t, 6)
  const { app } = await buildTestApp(t, { JWT_SECRET: 'a server secret for the load test, 32+ characters' })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  await publishVideo(app, ladder)
  for (let i = 0; i < 100; i++) {
    const found = await (await fetch(`${base}/api/search`)).json() as { items: unknown[] }
    if (found.items.length > 0) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const before = await scrape(base)
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/load/run.ts', '--url', base, '--viewers', '4', '--duration', '4', '--uploads', '1', '--json'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'the load test ran to its end', { stderr: err.slice(-2000) })
  t.match(err, /load: 4\/4 s {2}viewers/, 'a progress line while it ran')
  const lines = out.trim().split('\n')
  const result = JSON.parse(lines[lines.length - 1]!)
  t.comment(lines.slice(0, -1).join('\n'))
  t.match(result, { viewers: 4, durationS: 4, requests: Number, errors: 0, stalledViewers: Number, segmentLatencyMs: { p50: Number, p99: Number } })
  const after = await scrape(base)
  const d = (labels: Record<string, string>, name = 'lectern_http_requests_total') => sum(after.samples, name, labels) - sum(before.samples, name, labels)

  const media = result.latencyMs.segment.count + result.latencyMs.playlist.count
  // Set-up: the tool found the one video through search and read its master and media playlist.
  t.equal(d({ route: 'fast-path' }) + d({ route: '/hls/:id/:rendition/:segment' }) + d({ route: '/hls/:id/:rendition/index.m3u8' }), media + 1,
    `the server answered the ${result.latencyMs.segment.count} segments and ${result.latencyMs.playlist.count} media playlists the viewers fetched`)
  t.equal(d({ route: '/hls/:id/master.m3u8' }), result.latencyMs.master.count + 1, 'and their masters')
  t.equal(d({}, 'lectern_delivered_bytes_total') > 0, true)
  t.equal(sum(after.samples, 'lectern_delivered_bytes_total', { kind: 'segment' }) - sum(before.samples, 'lectern_delivered_bytes_total', { kind: 'segment' }), result.bytesByKind.segment,
    'segment bytes received = segment bytes the server sent')
  // autocannon counts the answers it read; one request per connection may be cut off when its time is up.
  const within = (served: number, counted: number, connections: number, what: string) =>
    t.ok(served >= counted && served <= counted + connections, `${what}: the server answered ${served}, autocannon read ${counted}`)
  within(d({ route: '/stream/:id', status_class: '2xx' }), result.latencyMs.range.count + 2, 1, 'each seek is a range request (and two probes of the size)')
  within(d({ route: '/api/search', status_class: '2xx' }), result.latencyMs.search.count + 2, 1, 'each keystroke a search (and two to find videos and words)')
  t.equal(d({ route: '/api/videos', status_class: '2xx' }), result.latencyMs.upload.count, 'each upload accepted')
  t.equal(sum(after.samples, 'lectern_upload_received_bytes_total') - sum(before.samples, 'lectern_upload_received_bytes_total') > result.bytesByKind.upload, true, 'upload bytes arrived (the form around the file included)')
  t.equal(d({ status_class: '5xx' }) + d({ status_class: '4xx' }), 0, 'no request failed on the server either')
  t.ok(result.stalledViewers <= 4 && result.heldViewers === 4 - result.stalledViewers)
  t.equal(result.requests, media + result.latencyMs.master.count + result.latencyMs.range.count + result.latencyMs.search.count + result.latencyMs.upload.count, 'requests is the sum over kinds')
})
