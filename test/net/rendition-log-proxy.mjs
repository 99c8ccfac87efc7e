// A pass-through HTTP proxy for test/net/adaptive-ffmpeg.test.ts, run in the client namespace beside
// the player: every request is forwarded to the origin over one keep-alive connection (as a player's
// own would be), the response streamed back as it arrives, and for every answered segment one JSON
// line on stdout with the rendition the server chose (its Lectern-Rendition header). It changes
// nothing the server sees or the player gets; it only reads the headers.
// usage: node rendition-log-proxy.mjs <origin base url> <listen host> <listen port>
import http from 'node:http'

const [origin, host, port] = process.argv.slice(2)
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
let segments = 0

const server = http.createServer((req, res) => {
  const started = performance.now()
  const headers = { ...req.headers }
  delete headers.host
  const upstream = http.request(origin + req.url, { method: req.method, headers, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers)
    let bytes = 0
    up.on('data', (d) => { bytes += d.length })
    up.on('end', () => {
      const m = /\/segment-(\d+)\.ts/.exec(req.url ?? '')
      if (m !== null) {
        process.stdout.write(JSON.stringify({ n: segments++, index: Number(m[1]), status: up.statusCode, rendition: up.headers['lectern-rendition'] ?? null, bytes, ms: Math.round(performance.now() - started) }) + '\n')
      }
    })
    up.pipe(res)
  })
  upstream.on('error', (err) => {
    process.stderr.write(`proxy: ${req.url}: ${err.message}\n`)
    if (!res.headersSent) res.writeHead(502)
    res.end()
  })
  req.pipe(upstream)
})
server.listen(Number(port), host, () => { process.stdout.write(JSON.stringify({ listening: true }) + '\n') })
process.on('SIGTERM', () => { agent.destroy(); server.close(); process.exit(0) })
