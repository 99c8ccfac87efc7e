// Runs one autocannon measurement in its own process, so the load generator never shares an
// event loop with the server under test. Input: a JSON job in argv[2]; output: one JSON line.
//   { url, connections, seconds, headers?, randomRange?: { blockSize, blocks } }
// randomRange sends `Range: bytes=<k*blockSize>-<(k+1)*blockSize-1>` for a random k per request.
import autocannon from 'autocannon'

const job = JSON.parse(process.argv[2])
const request = { method: 'GET', headers: job.headers ?? {} }
if (job.randomRange !== undefined) {
  const { blockSize, blocks } = job.randomRange
  request.setupRequest = (req) => {
    const k = Math.floor(Math.random() * blocks)
    return { ...req, headers: { ...req.headers, range: `bytes=${k * blockSize}-${(k + 1) * blockSize - 1}` } }
  }
}
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.seconds,
  requests: [request]
})
process.stdout.write(JSON.stringify({
  reqPerSec: result.requests.average,
  bytesPerSec: result.throughput.average,
  p99Ms: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts
}) + '\n')
