// The seeking and searching part of the load, driven by autocannon in its own process (so it never
// shares an event loop with the paced HLS viewers). Input: a JSON job in argv[2]:
//   { base, seconds, seekers, searchers, streams: [{ path, size }], words: [string] }
// Seekers ask for a 256 KiB range of a progressive MP4 at a random place every second; searchers type
// (a prefix of a title word, one more letter every third of a second). Output: one JSON line.
import autocannon from 'autocannon'

const job = JSON.parse(process.argv[2])
const RANGE = 256 * 1024
const pick = (list) => list[Math.floor(Math.random() * list.length)]

function summary (result) {
  return {
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    bytes: result.throughput.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99
  }
}

function run (options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

const seeking = job.seekers > 0 && job.streams.length > 0
  ? run({
    url: job.base,
    connections: job.seekers,
    connectionRate: 1,
    duration: job.seconds,
    requests: [{
      method: 'GET',
      setupRequest: (req) => {
        const stream = pick(job.streams)
        const start = Math.floor(Math.random() * Math.max(1, stream.size - RANGE))
        return { ...req, path: stream.path, headers: { range: `bytes=${start}-${Math.min(stream.size - 1, start + RANGE - 1)}` } }
      }
    }]
  })
  : undefined
const searching = job.searchers > 0 && job.words.length > 0
  ? run({
    url: job.base,
    connections: job.searchers,
    connectionRate: 3,
    duration: job.seconds,
    requests: [{
      method: 'GET',
      setupRequest: (req) => {
        const word = pick(job.words)
        const typed = word.slice(0, 1 + Math.floor(Math.random() * word.length))
        return { ...req, path: `/api/search?q=${encodeURIComponent(typed)}&limit=10` }
      }
    }]
  })
  : undefined
const [ranges, search] = await Promise.all([seeking, searching])
process.stdout.write(JSON.stringify({
  range: ranges === undefined ? null : summary(ranges),
  search: search === undefined ? null : summary(search)
}) + '\n')
