import type { SegmentDelivery } from './sample-from-delivery.js'

/**
 * One line of nginx's access log for a session request, as nginx.conf's `lectern_edge` format
 * writes it and syslog carries it to the API nodes:
 *
 *   lectern-edge 1 $request_id $msec $request_time $body_bytes_sent $status $connection
 *   $connection_requests $tcpinfo_rtt $upstream_cache_status $arg_sid
 *
 * nginx writes `-` for an empty variable.
 */
export interface EdgeLogLine {
  requestId: string
  /** when the last byte was handed to the kernel (nginx's $msec at log time), ms since the epoch */
  finishMs: number
  /** when the request's first byte was read, ms since the epoch */
  arrivalMs: number
  bytes: number
  status: number
  /** nginx's connection serial number, and how many requests it has carried with this one */
  connection: string
  connectionRequests: number
  /** the kernel's smoothed round trip of the client connection, ms; null if unknown */
  rttMs: number | null
  cacheStatus: string | null
  sid: string
}

const MARK = 'lectern-edge 1 '

/** The line a syslog datagram from nginx carries, or null for anything else. Pure. */
export function parseEdgeLogLine (datagram: string): EdgeLogLine | null {
  const at = datagram.indexOf(MARK)
  if (at === -1) return null
  const f = datagram.slice(at + MARK.length).trim().split(' ')
  if (f.length !== 10) return null
  const [requestId, msec, requestTime, bytes, status, connection, requests, rtt, cache, sid] = f as [string, string, string, string, string, string, string, string, string, string]
  const finishMs = Number(msec) * 1000
  const tookMs = Number(requestTime) * 1000
  if (!/^[0-9a-f]{32}$/.test(requestId) || !Number.isFinite(finishMs) || !Number.isFinite(tookMs) || tookMs < 0) return null
  if (!/^\d+$/.test(bytes) || !/^\d{3}$/.test(status) || !/^\d+$/.test(connection) || !/^\d+$/.test(requests)) return null
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(sid)) return null
  return {
    requestId,
    finishMs,
    arrivalMs: finishMs - tookMs,
    bytes: Number(bytes),
    status: Number(status),
    connection,
    connectionRequests: Number(requests),
    rttMs: /^\d+$/.test(rtt) ? Number(rtt) / 1000 : null,
    cacheStatus: cache === '-' ? null : cache,
    sid
  }
}

/**
 * The previous line's answer as a delivery whose arrival the next request on the same client
 * connection bounds (the pair an inter-request sample needs), or null when `next` is not that
 * request: another connection, a request skipped in between, another session, or no body.
 * nginx does not say how much the kernel took at once, so no 'finish' sample is made from it.
 */
export function edgeDelivery (prev: EdgeLogLine, next: EdgeLogLine): SegmentDelivery | null {
  if (prev.connection !== next.connection || next.connectionRequests !== prev.connectionRequests + 1) return null
  if (prev.sid !== next.sid || prev.bytes === 0 || (prev.status !== 200 && prev.status !== 206)) return null
  return { bytes: prev.bytes, arrivalMs: prev.arrivalMs, finishMs: prev.finishMs, acceptedBytes: prev.bytes }
}
