import { readFileSync } from 'node:fs'

/** The kernel's default: no limit on unsent bytes in a socket's send buffer. */
const UNLIMITED = 4294967295
/** At or under this, 'finish' of a 1 MiB segment lags the real transfer by at most a few percent. */
export const RECOMMENDED_NOTSENT_LOWAT = 16384

export interface NotsentLowat {
  /** bytes, or null when unlimited or unreadable */
  bytes: number | null
  /** whether 'finish'-based throughput samples of segments of 1 MiB and more are trustworthy */
  preciseFinish: boolean
}

/** Reads net.ipv4.tcp_notsent_lowat (per network namespace) as this process sees it. */
export function readNotsentLowat (path = '/proc/sys/net/ipv4/tcp_notsent_lowat'): NotsentLowat {
  let raw: string
  try {
    raw = readFileSync(path, 'utf8').trim()
  } catch {
    return { bytes: null, preciseFinish: false }
  }
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n >= UNLIMITED) return { bytes: null, preciseFinish: false }
  return { bytes: n, preciseFinish: n <= RECOMMENDED_NOTSENT_LOWAT }
}
