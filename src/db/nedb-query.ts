import type { Filter, Update } from './collection.js'

// nedb speaks most of MongoDB's query language but differs where it matters to Lectern:
// - `{ f: { $ne: v } }` and `$nin` on an array field match when ANY element differs
//   (MongoDB: when NO element equals), and nedb has no field-level `$not` and no `$eq`;
// - `{ f: null }` does not match a missing field (MongoDB: it does);
// - `$regex` must be a RegExp object (MongoDB also takes a string plus `$options`).
// toNedbFilter rewrites a facade filter into an nedb query with MongoDB's meaning, keeping plain
// top-level equalities in place so nedb can still answer them from its indexes.

type Query = Record<string, unknown>

const PASS_THROUGH = new Set(['$gt', '$gte', '$lt', '$lte', '$exists', '$size', '$elemMatch'])

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** True for `{ $op: ... }` objects (every key an operator). */
export function isOperatorObject (value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false
  const keys = Object.keys(value)
  return keys.length > 0 && keys.every((k) => k.startsWith('$'))
}

/** A RegExp safe to test against many documents: without the stateful g and y flags. */
function regexOf (source: unknown, options?: unknown): RegExp {
  if (source instanceof RegExp) {
    const flags = (typeof options === 'string' && options !== '' ? options : source.flags).replace(/[gy]/g, '')
    return flags === source.flags ? source : new RegExp(source.source, flags)
  }
  if (typeof source !== 'string') throw new TypeError('$regex needs a string or a RegExp')
  return new RegExp(source, (typeof options === 'string' ? options : '').replace(/[gy]/g, ''))
}

function both (parts: Query[]): Query {
  return parts.length === 1 ? parts[0]! : { $and: parts }
}

function equals (field: string, value: unknown): Query[] {
  if (value instanceof RegExp) return [{ [field]: regexOf(value) }]
  if (value === null) return [{ $or: [{ [field]: null }, { [field]: { $exists: false } }] }]
  return [{ [field]: value }]
}

function isIn (field: string, values: unknown): Query[] {
  if (!Array.isArray(values)) throw new TypeError(`$in on "${field}" needs an array`)
  const regexes = values.filter((v): v is RegExp => v instanceof RegExp)
  const plain = values.filter((v) => v !== null && !(v instanceof RegExp))
  const alternatives: Query[] = []
  if (plain.length > 0) alternatives.push({ [field]: { $in: plain } })
  for (const r of regexes) alternatives.push({ [field]: regexOf(r) })
  if (values.includes(null)) alternatives.push(...equals(field, null))
  if (alternatives.length === 0) return [{ [field]: { $in: [] } }]
  return alternatives.length === 1 ? alternatives : [{ $or: alternatives }]
}

function fieldConditions (field: string, condition: unknown): Query[] {
  if (!isOperatorObject(condition)) return equals(field, condition)
  const direct: Query = {}
  const extra: Query[] = []
  for (const [op, operand] of Object.entries(condition)) {
    if (PASS_THROUGH.has(op)) {
      direct[op] = operand
    } else if (op === '$eq') {
      extra.push(...equals(field, operand))
    } else if (op === '$ne') {
      extra.push({ $not: both(equals(field, operand)) })
    } else if (op === '$in') {
      extra.push(...isIn(field, operand))
    } else if (op === '$nin') {
      extra.push({ $not: both(isIn(field, operand)) })
    } else if (op === '$regex') {
      direct.$regex = regexOf(operand, condition.$options)
    } else if (op === '$options') {
      if (!('$regex' in condition)) throw new TypeError(`$options on "${field}" needs $regex`)
    } else if (op === '$not') {
      extra.push({ $not: both(fieldConditions(field, operand)) })
    } else {
      throw new TypeError(`Unsupported query operator ${op} on "${field}"`)
    }
  }
  return Object.keys(direct).length > 0 ? [{ [field]: direct }, ...extra] : extra
}

/** A facade filter as an nedb query with MongoDB semantics. */
export function toNedbFilter (filter: Filter): Query {
  const out: Query = {}
  const and: Query[] = []
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value) || value.length === 0) throw new TypeError(`${key} needs a non-empty array of filters`)
      const parts = value.map((f) => toNedbFilter(f as Filter))
      if (key === '$and') and.push(...parts)
      else if (key === '$or') and.push({ $or: parts })
      else and.push({ $not: { $or: parts } })
      continue
    }
    if (key.startsWith('$')) throw new TypeError(`Unsupported query operator ${key}`)
    for (const part of fieldConditions(key, value)) {
      const [first] = Object.keys(part)
      if (Object.keys(part).length === 1 && first !== undefined && !first.startsWith('$') && !(first in out)) {
        out[first] = part[first]
      } else {
        and.push(part)
      }
    }
  }
  if (and.length > 0) out.$and = and
  return out
}

/** Drops undefined values, as the mongodb driver does with ignoreUndefined, so both stores keep the same fields. */
export function withoutUndefined<T> (value: T): T {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : withoutUndefined(v))) as T
  if (!isPlainObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = withoutUndefined(v)
  }
  return out as T
}

/** A facade update as an nedb modifier object. */
export function toNedbUpdate (update: Update): Query {
  const out: Query = {}
  for (const [op, fields] of Object.entries(update)) {
    if (fields === undefined) continue
    if (!['$set', '$unset', '$inc', '$push', '$pull'].includes(op)) throw new TypeError(`Unsupported update operator ${op}`)
    if (!isPlainObject(fields)) throw new TypeError(`${op} needs an object of fields`)
    if (op === '$pull') checkPull(fields)
    out[op] = withoutUndefined(fields)
  }
  if (Object.keys(out).length === 0) throw new TypeError('An update needs at least one of $set, $unset, $inc, $push, $pull')
  return out
}

/**
 * `$pull` removes the elements equal to a value. Conditions (`{ $in: [...] }`, sub-document
 * queries) are refused: FerretDB 1.x silently treats them as a literal value and removes nothing.
 */
export function checkPull (fields: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(fields)) {
    if (isPlainObject(value) || value instanceof RegExp) {
      throw new TypeError(`$pull on "${field}" takes a value to remove, not a condition`)
    }
  }
}

/** Throws a TypeError for anything outside the facade's filter subset (see collection.ts). */
export function checkFilter (filter: Filter): void {
  toNedbFilter(filter)
}
