import { once } from 'node:events'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// A port the kernel found free is free only for a moment: tap runs test files in parallel, and a
// port handed to one (a Redis restarted on the same port, a port kept as "nothing listens here")
// could be handed to another. So every port given out is also reserved, by a file naming this
// process, until this process exits; other test processes skip reserved ports, and stale
// reservations (their process is gone, even by SIGKILL) are taken over.

const RESERVATIONS = join(tmpdir(), 'lectern-test-ports')
const reserved = new Set<number>()
process.on('exit', () => {
  for (const port of reserved) rmSync(join(RESERVATIONS, String(port)), { force: true })
})

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function reserve (port: number): boolean {
  if (reserved.has(port)) return false
  const file = join(RESERVATIONS, String(port))
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      reserved.add(port)
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let owner = NaN
    try {
      owner = Number(readFileSync(file, 'utf8'))
    } catch {}
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false
    rmSync(file, { force: true })
  }
  return false
}

async function kernelPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel')
  return address.port
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, reserved for this test process until it
 * exits (for child servers that need a port up front, and keep it across restarts).
 */
export async function freePort (): Promise<number> {
  mkdirSync(RESERVATIONS, { recursive: true })
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await kernelPort()
    if (reserve(port)) return port
  }
  throw new Error(`no unreserved free port after 100 tries (reservations in ${RESERVATIONS})`)
}
