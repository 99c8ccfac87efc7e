import { BadRequestError } from '../errors.js'

/**
 * Pagination cursors are base64url JSON: opaque to clients, readable in logs. Decoding checks the
 * shape, so a hand-edited or truncated cursor is a 400 naming the parameter, never a 500.
 */
export function encodeCursor (value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function decodeCursor<K extends string> (cursor: string, fields: Record<K, 'string' | 'number'>): Record<K, string | number> {
  const bad = () => new BadRequestError('cursor: is not a cursor this endpoint gave out; start again without it')
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad()
  const out = {} as Record<K, string | number>
  for (const [name, type] of Object.entries(fields) as Array<[K, 'string' | 'number']>) {
    const v = (parsed as Record<string, unknown>)[name]
    if (typeof v !== type || (type === 'number' && !Number.isFinite(v))) throw bad()
    out[name] = v as string | number
  }
  return out
}
