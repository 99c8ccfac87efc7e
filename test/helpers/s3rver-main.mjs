// Runs s3rver for test/helpers/s3-server.ts in its own process: s3rver's continuation tokens use
// DES, which OpenSSL 3 offers only under --openssl-legacy-provider, a flag that can only be
// given at process start. Usage: node --openssl-legacy-provider s3rver-main.mjs <dir> <bucket> [port]
// (a port, to start it again where its clients expect it: test/faults/restartable-servers.ts)
import { createRequire } from 'node:module'

const S3rver = createRequire(import.meta.url)('s3rver')
const [directory, bucket, port = '0'] = process.argv.slice(2)
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  silent: true,
  directory,
  resetOnClose: false,
  configureBuckets: [{ name: bucket }]
})
const { port: listening } = await server.run()
process.stdout.write(JSON.stringify({ port: listening }) + '\n')

async function stop () {
  const closing = server.close()
  // Keep-alive sockets of clients (and bodies a test left unread) would hold close() open.
  server.httpServer.closeAllConnections()
  await closing
  process.exit(0)
}
process.on('SIGTERM', stop)
// The parent holds our stdin: when it goes away, however it died, so do we.
process.stdin.on('end', stop)
process.stdin.resume()
