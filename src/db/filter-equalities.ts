import type { Filter } from './collection.js'
import { isOperatorObject } from './nedb-query.js'

/**
 * The fields an upsert copies from its filter into the new document, as MongoDB does: top-level
 * equalities (and `$eq`), including those inside `$and`.
 */
export function filterEqualities (filter: Filter): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const part of value) Object.assign(out, filterEqualities(part as Filter))
    } else if (key.startsWith('$') || value === undefined || value instanceof RegExp) {
      continue
    } else if (isOperatorObject(value)) {
      if ('$eq' in value) out[key] = value.$eq
    } else {
      out[key] = value
    }
  }
  return out
}
