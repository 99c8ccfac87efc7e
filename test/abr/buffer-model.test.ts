import t from 'tap'
import { bufferSeconds, newBufferModel, onSegment } from '../../src/abr/buffer-model.js'

t.test('nothing is known before the second request', async (t) => {
  let m = newBufferModel()
  t.equal(bufferSeconds(m, 0), null)
  m = onSegment(m, 0, 4)
  t.equal(bufferSeconds(m, 500), null, 'the first segment may still be on its way')
  m = onSegment(m, 1000, 4)
  t.equal(bufferSeconds(m, 1000), 4)
})

t.test('segments delivered minus wall time since playback started', async (t) => {
  let m = newBufferModel()
  for (const at of [0, 1000, 2000, 3000]) m = onSegment(m, at, 4)
  // 3 segments known arrived (12 s), playing since 1000: at 3000, 10 s left
  t.equal(bufferSeconds(m, 3000), 10)
  t.equal(bufferSeconds(m, 8000), 5)
  t.equal(bufferSeconds(m, 60_000), 0, 'floored at zero')
})

t.test('a stall does not leave a debt: the buffer restarts from zero', async (t) => {
  let m = newBufferModel()
  m = onSegment(m, 0, 4)
  m = onSegment(m, 1000, 4)
  m = onSegment(m, 10_000, 4) // 9 s later: the 4 s ran out 5 s ago
  t.equal(bufferSeconds(m, 10_000), 4)
})

t.test('a player pacing one request per segment duration keeps a constant buffer', async (t) => {
  let m = newBufferModel()
  for (let i = 0; i < 10; i++) m = onSegment(m, i * 500, 4)
  const full = bufferSeconds(m, 4500)!
  for (let i = 1; i <= 5; i++) m = onSegment(m, 4500 + i * 4000, 4)
  t.equal(bufferSeconds(m, 4500 + 5 * 4000), full)
})

t.test("the player's own buffer length replaces the inference", async (t) => {
  let m = newBufferModel()
  m = onSegment(m, 0, 4)
  m = onSegment(m, 1000, 4, 12_500)
  t.equal(bufferSeconds(m, 1000), 12.5)
  t.equal(bufferSeconds(m, 3000), 10.5)
})

t.test('onSegment does not change its input and the state is plain JSON', async (t) => {
  const m = onSegment(onSegment(newBufferModel(), 0, 4), 1000, 4)
  const copy = JSON.stringify(m)
  onSegment(m, 2000, 4)
  t.equal(JSON.stringify(m), copy)
  t.same(JSON.parse(copy), m)
})
