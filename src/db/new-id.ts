import { randomBytes } from 'node:crypto'

/** A url-safe, sortable-by-time string id: 8 hex chars of seconds then 12 random hex chars. */
export function newId (): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0')
  return seconds + randomBytes(6).toString('hex')
}

export const ID_PATTERN = /^[0-9a-f]{20}$/
