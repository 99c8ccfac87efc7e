import t from 'tap'
import { medianInterval } from './bench-process.js'

/** P(X <= k) for X ~ Binomial(n, 1/2). */
function binomialCdf (n: number, k: number): number {
  let p = 0
  let term = 0.5 ** n
  for (let i = 0; i <= k; i++) {
    p += term
    term = term * (n - i) / (i + 1)
  }
  return p
}

t.test('the interval of identical values is that value', async (t) => {
  t.same(medianInterval([0.97, 0.97, 0.97, 0.97, 0.97]), { low: 0.97, high: 0.97 })
})

t.test('the 90% interval of the median of 1..101 spans the order statistics a binomial count gives', async (t) => {
  // The distribution-free interval for a median: the r-th smallest to the r-th largest of n
  // values, with r the largest rank whose tail P(Binomial(n, 1/2) <= r - 1) stays under 5%.
  const n = 101
  let r = 1
  while (binomialCdf(n, r) < 0.05) r++
  const values = Array.from({ length: n }, (_, i) => i + 1)
  // Shuffled, so that the order of the values cannot matter.
  const shuffled = values.map((v) => [Math.sin(v * 12.9898) * 43758.5453 % 1, v] as const).sort((a, b) => a[0] - b[0]).map(([, v]) => v)
  const { low, high } = medianInterval(shuffled)
  // The bootstrap and the exact interval agree to within two ranks at this n.
  t.ok(Math.abs(low - r) <= 2, `low ${low} near the exact ${r}`)
  t.ok(Math.abs(high - (n + 1 - r)) <= 2, `high ${high} near the exact ${n + 1 - r}`)
  t.ok(low < 51 && high > 51, 'the interval holds the median')
})

t.test('a wider level gives a wider interval', async (t) => {
  const values = Array.from({ length: 40 }, (_, i) => 0.9 + ((i * 7) % 40) * 0.005)
  const ninety = medianInterval(values, 0.9)
  const fifty = medianInterval(values, 0.5)
  t.ok(ninety.low <= fifty.low && ninety.high >= fifty.high, `90% ${JSON.stringify(ninety)} contains 50% ${JSON.stringify(fifty)}`)
  t.ok(ninety.high - ninety.low > fifty.high - fifty.low)
})
