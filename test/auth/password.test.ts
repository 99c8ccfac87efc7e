import t from 'tap'
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
