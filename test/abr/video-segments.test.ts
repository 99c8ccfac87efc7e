import t from 'tap'
import { PENSIEVE_LADDER_KBPS, videoSegments } from '../../src/abr/video-segments.js'

t.test('each rung averages its nominal bitrate, with realistic variation', async (t) => {
  const v = videoSegments(48)
  t.equal(v.bytes.length, 48)
  for (const [r, kbps] of PENSIEVE_LADDER_KBPS.entries()) {
    const sizes = v.bytes.map((row) => row[r]!)
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length
    t.ok(Math.abs(mean / ((kbps * 1000 * 4) / 8) - 1) < 0.001, `rung ${r}`)
    const spread = Math.max(...sizes) / Math.min(...sizes)
    t.ok(spread > 1.5 && spread < 6, `rung ${r}: max/min ${spread.toFixed(2)}`)
  }
  t.ok(v.bytes.every((row) => row.every((b, r) => r === 0 || b > row[r - 1]!)), 'a higher rung is a bigger segment')
})

t.test('deterministic for a seed, different for another', async (t) => {
  t.same(videoSegments(10, undefined, 4, 7).bytes, videoSegments(10, undefined, 4, 7).bytes)
  t.not(videoSegments(10, undefined, 4, 7).bytes[0]![0], videoSegments(10, undefined, 4, 8).bytes[0]![0])
})
