import t from 'tap'
import { sampleBps } from '../../src/abr/throughput-sample.js'

t.test('bits per second of bytes over milliseconds', async (t) => {
  t.equal(sampleBps({ bytes: 1_000_000, durationMs: 1000, atMs: 0, source: 'gap' }), 8_000_000)
  t.equal(sampleBps({ bytes: 500_000, durationMs: 4000, atMs: 0, source: 'finish' }), 1_000_000)
})

t.test('a zero duration gives a finite rate', async (t) => {
  t.equal(sampleBps({ bytes: 1000, durationMs: 0, atMs: 0, source: 'finish' }), 8_000_000)
})
