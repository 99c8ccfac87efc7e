import t from 'tap'
import { networkPrefix } from '../../src/abr/network-prefix.js'

t.test('IPv4 /24, IPv6 /48, mapped addresses, junk', async (t) => {
  t.equal(networkPrefix('198.18.7.42'), '198.18.7.0/24')
  t.equal(networkPrefix('::ffff:10.1.2.3'), '10.1.2.0/24')
  t.equal(networkPrefix('2001:db8:abcd:12::1'), '2001:db8:abcd::/48')
  t.equal(networkPrefix('2001:0db8:0000:0012::1'), '2001:db8:0::/48')
  t.equal(networkPrefix('::1'), '0:0:0::/48')
  t.equal(networkPrefix('fe80::1%eth0'), 'fe80:0:0::/48')
  t.equal(networkPrefix('2001:db8:abcd:12::1'), networkPrefix('2001:db8:abcd:ffff:1:2:3:4'), 'the same site')
  t.not(networkPrefix('2001:db8:abcd::1'), networkPrefix('2001:db8:abce::1'))
  t.equal(networkPrefix('not an address'), undefined)
  t.equal(networkPrefix(undefined), undefined)
})
