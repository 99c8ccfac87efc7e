// Sends exactly `count` GETs of `url` over `connections` keep-alive connections, reading every
// body, and prints {"ok":n,"failed":m} when all have been answered. Used where a benchmark counts
// the server's work per request (a fixed number of requests, not a fixed time).
import http from 'node:http'

const [url, count, connections] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 8)]
const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
let started = 0
let ok = 0
let failed = 0
await new Promise((resolve) => {
  const one = () => {
    if (started >= count) return
    started++
    const done = (good) => {
      if (good) ok++
      else failed++
      if (ok + failed === count) resolve()
      else one()
    }
    http.get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => done(res.statusCode === 200))
    }).on('error', () => done(false))
  }
  for (let i = 0; i < connections; i++) one()
})
agent.destroy()
console.log(JSON.stringify({ ok, failed }))
