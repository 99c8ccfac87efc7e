import t from 'tap'
import { InvalidKeyError } from '../../src/errors.js'
import { MAX_KEY_BYTES, assertValidKey, assertValidPrefix, compareKeys } from '../../src/storage/object-key.js'

t.test('keys Lectern uses, and other harmless ones, pass', async (t) => {
  t.equal(Buffer.byteLength([255, 255, 255, 254, 1].map((n) => 'z'.repeat(n)).join('/')), MAX_KEY_BYTES)
  for (const key of [
    'originals/01HZX3V9Q2',
    'videos/abc/3/720p/segment-00000.ts',
    'videos/abc/3/master.m3u8',
    'a',
    'a..b/...',
    '.well-known/x',
    'spaces are fine/and dashes-too',
    'unicode/é/日本/\u{1F600}',
    'x'.repeat(255) + '/' + 'y'.repeat(255),
    // exactly MAX_KEY_BYTES, in segments of at most 255 bytes
    [255, 255, 255, 254, 1].map((n) => 'z'.repeat(n)).join('/')
  ]) {
    t.doesNotThrow(() => assertValidKey(key), JSON.stringify(key.slice(0, 40)))
  }
})

t.test('keys that could escape the root or mean two things are refused, each with its reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['/abs', /must be relative/],
    ['../x', /"\." or "\.\." segments/],
    ['a/../../b', /"\." or "\.\." segments/],
    ['a/..', /"\." or "\.\." segments/],
    ['./a', /"\." or "\.\." segments/],
    ['a\\b', /backslashes/],
    ['..\\x', /backslashes/],
    ['a//b', /empty segments/],
    ['a/', /empty segments/],
    ['a\u0000b', /control characters/],
    ['a\r\nb', /control characters/],
    ['a\u0085b', /control characters/],
    ['x'.repeat(MAX_KEY_BYTES + 1), /at most 1024 bytes/],
    ['é'.repeat(513), /at most 1024 bytes/],
    ['a/' + 'y'.repeat(256), /segments must be at most 255 bytes/]
  ]
  for (const [key, reason] of cases) {
    const err = t.throws(() => assertValidKey(key), InvalidKeyError, JSON.stringify(key.slice(0, 40))) as Error
    t.match(err, { code: 'LECTERN_ERR_INVALID_KEY', statusCode: 400, message: reason })
    t.notMatch(err.message, /[\u0000-\u001f]/, 'the message stays one printable line')
    t.ok(err.message.length < 250, 'long keys are shortened in the message')
  }
})

t.test('prefixes: empty, whole segments or a partial last one; never an escape', async (t) => {
  for (const prefix of ['', 'a', 'a/', 'a/b', 'videos/abc/3/', 'videos/ab']) {
    t.doesNotThrow(() => assertValidPrefix(prefix), JSON.stringify(prefix))
  }
  for (const prefix of ['/', '/a', '../', 'a/../', 'a//', 'a\\', '.', 'a/./']) {
    t.throws(() => assertValidPrefix(prefix), InvalidKeyError, JSON.stringify(prefix))
  }
})

t.test('compareKeys orders by UTF-8 bytes, as S3 lists', async (t) => {
  const keys = ['k/\u{1F600}', 'k/\uFF21', 'k/é', 'k/z', 'k/Z', 'k/10', 'k/1', 'k']
  t.same([...keys].sort(compareKeys), ['k', 'k/1', 'k/10', 'k/Z', 'k/z', 'k/é', 'k/\uFF21', 'k/\u{1F600}'])
  t.equal(compareKeys('a', 'a'), 0)
})
