import t from 'tap'
import { scryptSync } from 'node:crypto'
import { hashPassword, verifyAgainstDummy, verifyPassword } from '../../src/auth/password.js'
import { isPlausibleEmail, normalizeEmail } from '../../src/auth/normalize-email.js'

t.test('hash and verify', async (t) => {
  const a = await hashPassword('correct horse battery')
  const b = await hashPassword('correct horse battery')
  t.match(a.hash, /^[0-9a-f]{128}$/)
  t.match(a.salt, /^[0-9a-f]{32}$/)
  t.not(a.salt, b.salt, 'a fresh salt per hash')
  t.not(a.hash, b.hash, 'so equal passwords hash differently')
  t.equal(await verifyPassword('correct horse battery', a), true)
  t.equal(await verifyPassword('correct horse batterY', a), false)
  t.equal(await verifyPassword('', a), false)
  t.equal(await verifyPassword('correct horse battery', { hash: 'abcd', salt: a.salt }), false, 'a malformed stored hash is a mismatch, not a throw')
  t.equal(await verifyPassword('ﬁne passphrase', await hashPassword('fine passphrase')), true, 'compatibility forms are normalised (NFKC)')
  t.equal(await verifyAgainstDummy('anything at all'), false)
})

t.test('emails are normalised and loosely checked', async (t) => {
  t.equal(normalizeEmail('  Ann.Lee@Example.ORG '), 'ann.lee@example.org')
  for (const ok of ['a@b.co', 'first.last+tag@sub.example.org', 'ü@例え.jp']) t.ok(isPlausibleEmail(ok), ok)
  for (const bad of ['', 'a', 'a@b', '@b.co', 'a@.co', 'a b@c.de', 'a@b..co', `${'x'.repeat(250)}@b.co`]) t.notOk(isPlausibleEmail(bad), bad)
})

t.test('hashes are scrypt with the documented parameters: independent vectors', async (t) => {
  // scrypt N=2^15, r=8, p=1, 64-byte key over the NFKC form, hex; computed once with Python's hashlib.scrypt.
  const salt = '000102030405060708090a0b0c0d0e0f'
  const vector = 'c72e940880b3f15bff3fa26a3a49140f80ce9a1c4dd2d5d27bab10014071ba940e69017c5b87f1c53e2d2f784748418b61923aa2cf494de3caf64e37f21c96d6'
  t.equal(await verifyPassword('correct horse battery', { hash: vector, salt }), true, 'a hash made elsewhere verifies')
  t.equal(await verifyPassword('correct horse batterY', { hash: vector, salt }), false)
  const nfkc = 'fcdde8cacb94aadac151a353f5a7bc572370a483286255515ce1e84e62647871e4e918ce5cbb2f705ddb1d228d0ab8f680f63537d933e89650829bb712ff5acb'
  t.equal(await verifyPassword('ﬁne passphrase', { hash: nfkc, salt }), true, 'over the NFKC form')

  const made = await hashPassword('correct horse battery')
  const expected = scryptSync('correct horse battery', Buffer.from(made.salt, 'hex'), 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
  t.equal(made.hash, expected.toString('hex'), 'a hash Lectern makes is scryptSync with N=2^15, r=8, p=1 over its salt')
})
