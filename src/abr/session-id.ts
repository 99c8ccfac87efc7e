import { randomBytes } from 'node:crypto'

/** Viewing session ids: ours are 22 base64url characters; players' own (CMCD `sid`, often a UUID) are accepted too. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/

export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

export function isSessionId (value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value)
}
