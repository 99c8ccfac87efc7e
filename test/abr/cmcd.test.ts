import t from 'tap'
import { parseCmcdPayload, readCmcd } from '../../src/abr/cmcd.js'

t.test("the CTA-5004 specification's query example", async (t) => {
  // From CTA-5004 section 4.1 (all keys in one query value, URL-encoded as the spec shows).
  const query = 'bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11eabb37-0242ac130002%22%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252Ftrack.m4v%22%2Cnrr%3D%2212323-48763%22%2Cot%3Dv%2Cpr%3D1.08%2Crtp%3D12000%2Csf%3Dd%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Cst%3Dv%2Csu%2Ctb%3D6141'
  t.same(parseCmcdPayload(decodeURIComponent(query)), { bl: 21300, br: 3200, d: 4004, mtp: 48100, ot: 'v', sid: '6e2fb550-c457-11e9-bb97-0800200c9a66' })
})

t.test('headers: the four CMCD headers are read together, as hls.js sends them', async (t) => {
  const cmcd = readCmcd(undefined, {
    'cmcd-request': 'bl=4000,mtp=1200',
    'cmcd-object': 'br=800,d=4000,ot=av',
    'cmcd-session': 'cid="x",sf=h,sid="abc-123-def"',
    'cmcd-status': 'bs'
  })
  t.same(cmcd, { bl: 4000, mtp: 1200, br: 800, d: 4000, ot: 'av', sid: 'abc-123-def' })
  t.equal(readCmcd(undefined, {}), undefined, 'no CMCD at all')
})

t.test('bad CMCD is ignored, never an error', async (t) => {
  t.same(parseCmcdPayload('mtp=-5,bl=abc,br=1e9,sid=unquoted,ot=VIDEO,d=,=3,,,'), {})
  t.same(parseCmcdPayload('sid="a,b",mtp=100'), { sid: 'a,b', mtp: 100 }, 'a comma inside quotes does not split')
  t.same(parseCmcdPayload('mtp=1'.padEnd(5000, ' ')), {}, 'oversized payloads are dropped')
  t.same(parseCmcdPayload('sid="' + 'x'.repeat(65) + '"'), {}, 'a session id longer than 64 characters is dropped')
})
