import t from 'tap'
import { ViewSessions, viewSessionKey } from '../../src/delivery/view-sessions.js'

t.test('a session is one view within the window, and a new one after it', async (t) => {
  const s = new ViewSessions(1000)
  t.equal(s.firstSight('a', 0), true)
  t.equal(s.firstSight('a', 500), false)
  t.equal(s.firstSight('b', 600), true)
  t.equal(s.firstSight('a', 1000), true, 'expired: a new view')
  t.equal(s.firstSight('b', 1200), false)
  t.equal(s.firstSight('b', 1600), true)
})

t.test('memory is bounded by maxEntries', async (t) => {
  const s = new ViewSessions(60_000, 3)
  for (const k of ['a', 'b', 'c', 'd']) t.equal(s.firstSight(k, 0), true)
  t.ok(s.size <= 3)
  t.equal(s.firstSight('a', 1), true, 'the oldest was forgotten')
})

t.test('session keys: a token identifies a session; otherwise address and user agent', async (t) => {
  t.equal(viewSessionKey('v', 'tok', '1.1.1.1', 'ua'), viewSessionKey('v', 'tok', '2.2.2.2', 'other'))
  t.not(viewSessionKey('v', 'tok', '1.1.1.1', 'ua'), viewSessionKey('w', 'tok', '1.1.1.1', 'ua'))
  t.not(viewSessionKey('v', undefined, '1.1.1.1', 'ua'), viewSessionKey('v', undefined, '1.1.1.1', 'ub'))
  t.equal(viewSessionKey('v', undefined, '1.1.1.1', 'ua'), viewSessionKey('v', '', '1.1.1.1', 'ua'))
  t.match(viewSessionKey('v', undefined, '1.1.1.1', undefined), /^[A-Za-z0-9_-]{43}$/)
})
