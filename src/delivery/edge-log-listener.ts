import { createSocket, type Socket } from 'node:dgram'
import type { FastifyBaseLogger } from 'fastify'
import { parseEdgeLogLine, type EdgeLogLine } from '../abr/edge-log-line.js'

/**
 * Receives nginx's access log of session requests over syslog (UDP): the requests nginx answers
 * from its own cache never reach a node, and this is how their timing still does. Lines that are
 * not ours are ignored.
 */
export async function listenForEdgeLog (port: number, host: string, onLine: (line: EdgeLogLine) => Promise<void>, log: FastifyBaseLogger): Promise<Socket> {
  const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false })
  socket.on('message', (msg) => {
    const line = parseEdgeLogLine(msg.toString('utf8'))
    if (line !== null) onLine(line).catch((err: unknown) => log.warn({ err }, 'could not record a sample from the edge log'))
  })
  socket.on('error', (err) => log.warn({ err }, 'edge log socket error'))
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, host, () => { socket.off('error', reject); resolve() })
  })
  log.info({ port: socket.address().port }, 'listening for nginx\'s access log of session requests (syslog over UDP)')
  return socket
}
