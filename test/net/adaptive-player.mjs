// A plain player for /adaptive_stream, with no ABR of its own (like ffmpeg, VLC or a set-top box):
// fetches the playlist, then each segment in order over one keep-alive connection, with a playback
// buffer: it plays in real time once the first segment is in, waits while it holds more than CAP
// seconds, and stalls when the buffer runs dry. One JSON line per segment on stdout.
// usage: node adaptive-player.mjs <base url> <video id> <segments> <cap seconds>
import http from 'node:http'

const [base, id, count, capArg] = process.argv.slice(2)
const cap = Number(capArg)
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function get (path) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    http.get(base + path, { agent }, (res) => {
      let bytes = 0
      const chunks = []
      res.on('data', (d) => { bytes += d.length; if (chunks.length < 64) chunks.push(d) })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

const playlist = await get(`/adaptive_stream/${id}`)
if (playlist.status !== 200) throw new Error(`playlist: ${playlist.status} ${playlist.body}`)
const lines = playlist.body.split('\n')
const uris = lines.filter((l) => l !== '' && !l.startsWith('#'))
const durations = lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(l.slice(8).split(',')[0]))
let buffer = 0
let playing = false
for (let i = 0; i < Math.min(Number(count), uris.length); i++) {
  if (buffer > cap) {
    await sleep((buffer - cap) * 1000)
    buffer = cap
  }
  const res = await get(uris[i])
  if (res.status !== 200) throw new Error(`segment ${i}: ${res.status} ${res.body}`)
  const seconds = res.ms / 1000
  let stall = 0
  if (playing) {
    stall = Math.max(0, seconds - buffer)
    buffer = Math.max(0, buffer - seconds)
  }
  buffer += durations[i]
  playing = true
  const etp = /etp=(\d+)/.exec(res.headers['cmsd-dynamic'] ?? '')?.[1]
  process.stdout.write(JSON.stringify({ i, rendition: res.headers['lectern-rendition'], bytes: res.bytes, ms: Math.round(res.ms), etpKbps: etp === undefined ? null : Number(etp), stallMs: Math.round(stall * 1000), buffer: Math.round(buffer * 10) / 10 }) + '\n')
}
agent.destroy()
