import t from 'tap'
import { SESSION_ID, isSessionId, isSessionIdAt, newSessionId } from '../../src/abr/session-id.js'

t.test('isSessionId accepts exactly the language of SESSION_ID', async (t) => {
  // The expectation is the regular expression; the function is a hand-written loop.
  const alphabet = 'Az09_-.~%/?=+ é\u0000\u{1F600}aZ'
  let seed = 12345
  // The high bits of the generator: its low bits repeat with a short period.
  const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed >>> 12 }
  let accepted = 0
  for (let i = 0; i < 20_000; i++) {
    const length = next() % 70
    let s = ''
    // Mostly valid characters, so that both answers come up often.
    for (let k = 0; k < length; k++) s += next() % 60 === 0 ? alphabet[next() % alphabet.length] : 'aZ09_-'[next() % 6]
    if (isSessionId(s) !== SESSION_ID.test(s)) t.fail(`disagree on ${JSON.stringify(s)}`)
    if (isSessionId(s)) accepted++
  }
  t.ok(accepted > 1000 && accepted < 19_000, `both answers exercised (${accepted} accepted)`)
  for (const edge of ['a'.repeat(7), 'a'.repeat(8), 'a'.repeat(64), 'a'.repeat(65), 'abcdefg\n', 'abcdefgh\n']) {
    t.equal(isSessionId(edge), SESSION_ID.test(edge), JSON.stringify(edge))
  }
  t.notOk(isSessionId(undefined))
  t.notOk(isSessionId(12345678))
  t.ok(isSessionId(newSessionId()), 'our own ids')
})

// Characters next to the alphabet's ranges and those a URL query carries.
const OUTSIDE = './:@[`{~%?=& \u0000'

t.test('isSessionIdAt reads the id that ends a text where it stands, as the regular expression reads the text cut there', async (t) => {
  let seed = 777
  // The high bits of the generator: its low bits repeat with a short period.
  const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed >>> 12 }
  let accepted = 0
  for (let i = 0; i < 5000; i++) {
    const id = Array.from({ length: next() % 70 }, () => next() % 200 === 0 ? OUTSIDE[next() % OUTSIDE.length]! : 'aZ09_-'[next() % 6]).join('')
    const text = `/hls/abc/r1/segment-00001.ts?sid=${id}`
    const start = text.length - id.length
    if (isSessionIdAt(text, start) !== SESSION_ID.test(text.slice(start))) t.fail(`disagree on ${JSON.stringify(id)}`)
    if (isSessionIdAt(text, start)) accepted++
  }
  t.ok(accepted > 500 && accepted < 4500, `both answers exercised (${accepted} accepted)`)
  t.notOk(isSessionIdAt('abcdefghij', -1), 'a start before the text')
  t.notOk(isSessionIdAt('abcdefghij', 11), 'a start after the text')
})
