// Tiny endpoints for the network-namespace bottleneck tests, run inside a namespace (plain
// JavaScript, so it starts without a TypeScript loader).
//
//   netns-probe.mjs serve <host> <port> <bytes>
//     node:http server answering every request with the same <bytes>-byte buffer; prints
//     "listening" once it accepts connections.
//   netns-probe.mjs fetch <url> <seconds>
//     downloads <url> again and again (one keep-alive connection) for <seconds>, printing one line
//     "<ms since start> <bytes received so far>" every 50 ms, "end <ms>" when a download completes
//     and at the end "done <downloads>".
//   netns-probe.mjs connect <host> <port> <count>
//     opens <count> TCP connections one after another and prints each one's connect time in ms
//     (one round trip: SYN, SYN-ACK).
import http from 'node:http'
import net from 'node:net'

const [mode, ...rest] = process.argv.slice(2)

if (mode === 'serve') {
  const [host, port, bytes] = rest
  const body = Buffer.alloc(Number(bytes), 0x61)
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
  server.listen(Number(port), host, () => process.stdout.write('listening\n'))
} else if (mode === 'fetch') {
  const [url, seconds] = rest
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const start = performance.now()
  const end = start + Number(seconds) * 1000
  let received = 0
  let downloads = 0
  const report = () => process.stdout.write(`${Math.round(performance.now() - start)} ${received}\n`)
  const timer = setInterval(report, 50)
  const once = () => new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.on('data', (chunk) => { received += chunk.length })
      res.on('end', () => { clearTimeout(deadline); resolve() })
      res.on('error', reject)
    })
    req.on('error', (err) => { clearTimeout(deadline); reject(err) })
    // Stop mid-body at the deadline rather than finishing a long download.
    const deadline = setTimeout(() => req.destroy(new Error('deadline')), Math.max(1, end - performance.now()))
  })
  while (performance.now() < end) {
    try {
      await once()
      downloads++
      process.stdout.write(`end ${Math.round(performance.now() - start)}\n`)
    } catch (err) {
      if (err.message !== 'deadline') {
        process.stderr.write(`fetch failed: ${err.message}\n`)
        process.exitCode = 1
        break
      }
    }
  }
  clearInterval(timer)
  report()
  process.stdout.write(`done ${downloads}\n`)
  agent.destroy()
} else if (mode === 'connect') {
  const [host, port, count] = rest
  for (let i = 0; i < Number(count); i++) {
    const t0 = performance.now()
    await new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), host, () => {
        process.stdout.write(`${(performance.now() - t0).toFixed(3)}\n`)
        socket.destroy()
        resolve()
      })
      socket.on('error', reject)
    })
  }
} else {
  process.stderr.write('usage: netns-probe.mjs serve <host> <port> <bytes> | fetch <url> <seconds> | connect <host> <port> <count>\n')
  process.exit(2)
}
