import { isIPv4, isIPv6 } from 'node:net'

/**
 * The network a client address belongs to, for remembering what a network achieved: the /24 of an
 * IPv4 address, the /48 of an IPv6 one (a site), IPv4-mapped IPv6 treated as IPv4. Undefined for
 * anything that is not an address.
 */
export function networkPrefix (address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const ip = mapped !== null ? mapped[1]! : address
  if (isIPv4(ip)) return ip.slice(0, ip.lastIndexOf('.')) + '.0/24'
  if (!isIPv6(ip)) return undefined
  const groups = expandIPv6(ip)
  return groups.slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/48'
}

function expandIPv6 (ip: string): string[] {
  const zone = ip.indexOf('%')
  const bare = zone === -1 ? ip : ip.slice(0, zone)
  const [head, tail] = bare.includes('::') ? bare.split('::') as [string, string] : [bare, undefined]
  const left = head === '' ? [] : head.split(':')
  if (tail === undefined) return left
  const right = tail === '' ? [] : tail.split(':')
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
}
