import t from 'tap'
import { CMCD, DUPLICATE_HOST, NOT_PLAIN, requestHeaderFlags } from '../src/request-header-flags.js'

// The flags against what a lookup by lower-cased name says (as Node's headers object is keyed).
const CONDITIONAL = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']
const CMCD_NAMES = ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session']
// Names of the same lengths as those above, and near misses.
const OTHERS = ['hose', 'rangy', 'if-matcH_', 'cmcd-object'.replace('t', 'x'), 'cache-control', 'authorization', 'accept', 'user-agent',
  'if-modified-sincE'.replace('E', '3'), 'if-unmodified-sinc', 'x-range', 'cmcd-sessions', 'content-length', 'sec-fetch-mode']

function expected (names: string[]): number {
  const lower = names.map((n) => n.toLowerCase())
  let flags = 0
  if (lower.filter((n) => n === 'host').length > 1) flags |= DUPLICATE_HOST
  if (lower.some((n) => CMCD_NAMES.includes(n))) flags |= CMCD
  if (lower.some((n) => CONDITIONAL.includes(n))) flags |= NOT_PLAIN
  return flags
}

/** A deterministic generator, so that a failure can be replayed. */
function generator (seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x80000000
  }
}

t.test('random header sets in random case match lookups by lower-cased name', async (t) => {
  const random = generator(7)
  const pool = ['host', 'host', 'host', ...CONDITIONAL, ...CMCD_NAMES, ...OTHERS]
  const recase = (name: string): string => [...name].map((c) => random() < 0.5 ? c.toUpperCase() : c).join('')
  let mismatches = 0
  const seen = new Set<number>()
  for (let i = 0; i < 5000; i++) {
    const names = Array.from({ length: Math.floor(random() * 10) }, () => recase(pool[Math.floor(random() * pool.length)]!))
    const raw = names.flatMap((n) => [n, 'v'])
    const want = expected(names)
    seen.add(want)
    if (requestHeaderFlags(raw) !== want) {
      mismatches++
      if (mismatches < 5) t.fail(`${JSON.stringify(names)}: ${requestHeaderFlags(raw)}, expected ${want}`)
    }
  }
  t.equal(mismatches, 0)
  t.equal(seen.size, 8, 'every combination of the three flags came up')
})

t.test('each field alone', async (t) => {
  t.equal(requestHeaderFlags(['Host', 'a']), 0, 'one Host')
  t.equal(requestHeaderFlags(['Host', 'a', 'HOST', 'b']), DUPLICATE_HOST)
  for (const name of CONDITIONAL) t.equal(requestHeaderFlags(['Host', 'a', name.toUpperCase(), 'x']), NOT_PLAIN, name)
  for (const name of CMCD_NAMES) t.equal(requestHeaderFlags([name, 'x']), CMCD, name)
  for (const name of OTHERS) t.equal(requestHeaderFlags([name, 'x']), 0, name)
  t.equal(requestHeaderFlags([]), 0)
})
