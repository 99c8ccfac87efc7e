import t from 'tap'
import http from 'node:http'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildTestApp } from '../helpers/app.js'
import { mediaDir } from '../helpers/media.js'
import { makeLadder, publishVideo } from './fixtures.js'
import { request } from './http.js'
import { insertAccount } from '../plugins/accounts.js'
import { segmentName } from '../../src/db/documents.js'
import { scrape, sum } from '../metrics/scrape.js'

const execFileAsync = promisify(execFile)

// 16 one-second segments in two renditions: 360p (peak 664 kbit/s) and 180p (264 kbit/s).
const ladder = await makeLadder(t, 16)
const { app } = await buildTestApp(t)
const base = await app.listen({ port: 0, host: '127.0.0.1' })
const pub = await publishVideo(app, ladder)
const id = pub.video._id
const stored = (name: string): Buffer => pub.objects.get(`videos/${id}/${pub.video.version!}/${name}`)!
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
t.teardown(() => agent.destroy())

const sidOf = (playlist: string): string => /[?&]sid=([A-Za-z0-9_-]+)/.exec(playlist)![1]!
const firstVariant = (master: string): string => master.split('\n').find((l) => l !== '' && !l.startsWith('#'))!.split('?')[0]!

t.test('the adaptive playlist lists rendition-agnostic segments that carry a new session', async (t) => {
  const res = await request(base, `/adaptive_stream/${id}`)
  t.equal(res.status, 200)
  t.equal(res.headers['content-type'], 'application/vnd.apple.mpegurl')
  t.equal(res.headers['cache-control'], 'private, no-store')
  t.equal(res.headers['cmsd-static'], 'ot=m,sf=h,st=v')
  const text = res.body.toString()
  const sid = sidOf(text)
  const uris = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
  const expected = stored('180p/index.m3u8').toString().split('\n').filter((l) => l !== '' && !l.startsWith('#'))
  t.same(uris, expected.map((_s, i) => `/adaptive_stream/${id}/${segmentName(i)}?sid=${sid}`), 'one URI per segment of the stored playlists')
  t.same(text.split('\n').filter((l) => l.startsWith('#EXTINF')), stored('180p/index.m3u8').toString().split('\n').filter((l) => l.startsWith('#EXTINF')), 'durations kept')
  t.match(text, /#EXT-X-ENDLIST/)
  const again = await request(base, `/adaptive_stream/${id}?sid=${sid}`)
  t.equal(sidOf(again.body.toString()), sid, 'a session that is named is continued')

  const noSession = await request(base, `/adaptive_stream/${id}/${segmentName(0)}`)
  t.equal(noSession.status, 400)
  t.match(JSON.parse(noSession.body.toString()).message, /viewing session/)
  t.equal((await request(base, `/adaptive_stream/${id}/${segmentName(16)}?sid=${sid}`)).status, 404)
  t.equal((await request(base, `/adaptive_stream/${id}/nope.ts?sid=${sid}`)).status, 400)
  t.equal((await request(base, `/adaptive_stream/0123456789abcdef0123?sid=${sid}`)).status, 404)
})

t.test('each adaptive segment is the same-numbered segment of the rendition chosen for the throughput the player reports; the switches decode', async (t) => {
  const sid = sidOf((await request(base, `/adaptive_stream/${id}`)).body.toString())
  // CMCD mtp (kbit/s): plenty, then far too little for either rung, then plenty again; bl: the
  // player's buffer (ms), which a cautious step up waits for.
  const reported = [5000, 5000, 5000, 100, 100, ...Array<number>(11).fill(5000)]
  const buffered = [1000, 2000, 3000, 4000, 2000, ...Array.from({ length: 11 }, (_v, i) => 4000 + 2000 * i)]
  const served: string[] = []
  const bodies: Buffer[] = []
  for (let i = 0; i < reported.length; i++) {
    const res = await request(base, `/adaptive_stream/${id}/${segmentName(i)}?sid=${sid}`, { agent, headers: { 'cmcd-request': `bl=${buffered[i]!},mtp=${reported[i]!}`, 'cmcd-session': `sid="${sid}"` } })
    t.equal(res.status, 200)
    t.equal(res.headers['cache-control'], 'private, no-store')
    const rendition = res.headers['lectern-rendition'] as string
    t.ok(res.body.equals(stored(`${rendition}/${segmentName(i)}`)), `segment ${i} is ${rendition}'s, byte for byte`)
    t.match(res.headers['access-control-expose-headers'], /Lectern-Rendition/)
    served.push(rendition)
    bodies.push(res.body)
    await app.abrSessions.settled()
  }
  t.comment(`served: ${served.join(' ')}`)
  t.equal(served[0], '360p', 'the first segment already follows the 5 Mbit/s the player reports')
  t.equal(served[3], '180p', 'a drop to 100 kbit/s that the player reports is followed at once')
  t.equal(served[15], '360p', 'recovers once throughput has been back for a while')
  // A plain decoder plays across the switches: every frame of 16 s at 25 fps, and no error.
  const dir = await mediaDir(t)
  const file = join(dir, 'adaptive.ts')
  await writeFile(file, Buffer.concat(bodies))
  const { stdout, stderr } = await execFileAsync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file])
  t.equal(stderr, '', 'no decode error')
  t.same(stdout.split('\n').filter((l) => l.trim() !== '').map(Number), [400, 400], 'every frame decodes (the stream, as listed in its program and on its own)')
})

t.test('samples from delivered segments: the master then lists first what the session (or its network) achieved', async (t) => {
  const master = await request(base, `/hls/${id}/master.m3u8`)
  const sid = sidOf(master.body.toString())
  t.equal(firstVariant(master.body.toString()), '360p/index.m3u8', 'nothing known: the highest rung under 1.5 Mbit/s')
  // The player says it gets 200 kbit/s: less than either rung with a margin, so the lowest is listed first.
  for (let i = 0; i < 4; i++) {
    const seg = await request(base, `/hls/${id}/180p/${segmentName(i)}?sid=${sid}`, { agent, headers: { 'cmcd-request': 'mtp=200' } })
    t.equal(seg.status, 200)
    t.ok(seg.body.equals(stored(`180p/${segmentName(i)}`)))
    await app.abrSessions.settled()
  }
  const estimate = app.abrSessions.peek(sid)
  t.ok(estimate !== undefined && estimate.estimator.samples.length === 4, 'four samples recorded')
  const seg = await request(base, `/hls/${id}/180p/${segmentName(4)}?sid=${sid}`, { agent })
  t.match(seg.headers['cmsd-dynamic'], /^etp=2\d\d,mb=264$/, 'CMSD: the estimate (about 200 kbit/s) and the served rung\'s bitrate')
  // The object type, from what ffprobe finds in the segment: muxed audio and video.
  const segFile = join(await mediaDir(t), 'segment-4.ts')
  await writeFile(segFile, seg.body)
  const { stdout: streams } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', segFile])
  t.same([...new Set(streams.split('\n').filter((l) => l !== ''))].sort(), ['audio', 'video'])
  t.equal(seg.headers['cmsd-static'], 'ot=av,sf=h', 'CMSD-Static: muxed audio and video, HLS')
  const plain = await request(base, `/hls/${id}/180p/${segmentName(5)}`)
  t.equal(plain.headers['cmsd-static'], 'ot=av,sf=h', 'the object\'s CMSD-Static goes with every answer, session or not')
  t.equal(plain.headers['cmsd-dynamic'], undefined, 'CMSD-Dynamic only for a session')
  const again = await request(base, `/hls/${id}/master.m3u8?sid=${sid}`)
  t.equal(firstVariant(again.body.toString()), '180p/index.m3u8', 'the session\'s estimate orders the master')
  t.match(again.headers['cmsd-dynamic'], /^etp=\d+,mb=264$/)
  const fresh = await request(base, `/hls/${id}/master.m3u8`)
  t.not(sidOf(fresh.body.toString()), sid, 'a new session')
  t.equal(firstVariant(fresh.body.toString()), '180p/index.m3u8', 'a new session from the same network starts from what the network achieved')
  const media = await request(base, `/hls/${id}/180p/index.m3u8?sid=${sid}`)
  t.equal(media.headers['cache-control'], 'private, no-store')
  t.ok(media.body.toString().split('\n').filter((l) => l.startsWith('segment-')).every((l) => l.endsWith(`?sid=${sid}`)), 'media playlists carry the session to every segment')
})

t.test('without CMCD, back-to-back segment fetches on one connection give samples (the fast path included)', async (t) => {
  const sid = sidOf((await request(base, `/hls/${id}/master.m3u8`)).body.toString())
  const sent: number[] = []
  const sizes: number[] = []
  for (let i = 0; i < 16; i++) {
    sent.push(performance.now())
    sizes.push((await request(base, `/hls/${id}/360p/${segmentName(i)}?sid=${sid}`, { agent })).body.length)
    // Over loopback ten segments take a few milliseconds, less than a loaded machine's scheduling
    // jitter: a short pause after each (far from a segment's duration, so not taken for a paced
    // wait) spans the windows compared below over a quarter second. Both views include it.
    await sleep(25)
  }
  sent.push(performance.now())
  // The same session's next request completes the last segment's sample (one of another session,
  // or of none, would not: the windows compared below would then be a segment apart).
  await request(base, `/hls/${id}/360p/index.m3u8?sid=${sid}`, { agent })
  await app.abrSessions.settled()
  const s = app.abrSessions.peek(sid)!
  // The estimator keeps the last 10: gaps from requests 6..15 to the request after each.
  t.equal(s.estimator.samples.length, 10, 'a sample from the gap after every segment (the last 10 kept)')
  // What the client saw over the same requests: their bytes over the time from the first of them
  // being sent to the request after the last. The server's samples (bytes over their durations)
  // must tell the same rate, within what a loaded machine's timing allows.
  const clientBps = sizes.slice(6).reduce((a, b) => a + b, 0) * 8 / ((sent[16]! - sent[6]!) / 1000)
  const serverSeconds = s.estimator.samples.reduce((a, [, seconds]) => a + seconds, 0)
  const serverBps = sizes.slice(6).reduce((a, b) => a + b, 0) * 8 / serverSeconds
  t.comment(`client ${Math.round(clientBps / 1e6)} Mbit/s, server samples ${Math.round(serverBps / 1e6)} Mbit/s`)
  t.ok(serverBps > 0.65 * clientBps && serverBps < 1.5 * clientBps, 'the samples agree with what the client measured')
  t.equal(app.server.listeners('request').map((l) => l.name).join(), 'deliveryFastPath')
})

t.test('segments held in memory still take the throughput and buffer a player reports in CMCD headers', async (t) => {
  // Every 360p segment fetched once without a session, so that each is in memory (the fast path's case).
  for (let i = 0; i < 16; i++) t.equal((await request(base, `/hls/${id}/360p/${segmentName(i)}`, { agent })).status, 200)
  const sid = sidOf((await request(base, `/hls/${id}/master.m3u8`)).body.toString())
  // hls.js with useHeaders: the session in CMCD-Session and the URL, its throughput (kbit/s) in CMCD-Request.
  for (let i = 0; i < 6; i++) {
    const res = await request(base, `/hls/${id}/360p/${segmentName(i)}?sid=${sid}`, { agent, headers: { 'cmcd-request': 'bl=4000,mtp=350', 'cmcd-session': `sid="${sid}"` } })
    t.ok(res.body.equals(stored(`360p/${segmentName(i)}`)))
    await app.abrSessions.settled()
  }
  const s = app.abrSessions.peek(sid)!
  t.ok(s.estimator.samples.length >= 6, `a sample per segment (${s.estimator.samples.length})`)
  // The player said 350 kbit/s; the loopback carries gigabits, so any sample the server timed itself would be far off.
  t.ok(Math.abs(s.estimate! - 350_000) < 0.02 * 350_000, `the estimate is the reported 350 kbit/s (${Math.round(s.estimate! / 1000)})`)
  t.equal(s.buffer.seconds, 4, 'the buffer is the one the player reports (4 s)')
})

t.test('a range of a segment is a sample of the bytes sent, not of the whole segment', async (t) => {
  const whole = stored(`360p/${segmentName(7)}`)
  t.ok(whole.byteLength > 60_000, `the segment is larger than the range (${whole.byteLength} bytes)`)
  // In memory first (the fast path's case), then a session takes 40,000 bytes of it and asks again on the same connection.
  t.equal((await request(base, `/hls/${id}/360p/${segmentName(7)}`, { agent })).status, 200)
  const sid = sidOf((await request(base, `/hls/${id}/master.m3u8`)).body.toString())
  const part = await request(base, `/hls/${id}/360p/${segmentName(7)}?sid=${sid}`, { agent, headers: { range: 'bytes=0-39999' } })
  t.equal(part.status, 206)
  t.equal(part.body.byteLength, 40_000)
  await request(base, `/hls/${id}/360p/${segmentName(8)}?sid=${sid}`, { agent })
  await app.abrSessions.settled()
  const samples = app.abrSessions.peek(sid)!.estimator.samples
  t.ok(samples.length >= 1, 'the gap after the range made a sample')
  const [bps, seconds] = samples[0]!
  t.ok(Math.abs(bps * seconds / 8 - 40_000) < 1, `its bytes are the range's (${Math.round(bps * seconds / 8)})`)
})

t.test('a session id never grants access: private videos play adaptively only with their token', async (t) => {
  const priv = await publishVideo(app, ladder, { visibility: 'private' })
  const pid = priv.video._id
  await insertAccount(app, priv.video.owner)
  const open = sidOf((await request(base, `/adaptive_stream/${id}`)).body.toString())
  for (const path of [`/adaptive_stream/${pid}?sid=${open}`, `/adaptive_stream/${pid}/${segmentName(0)}?sid=${open}`, `/hls/${pid}/master.m3u8?sid=${open}`, `/hls/${pid}/360p/${segmentName(0)}?sid=${open}`]) {
    t.equal((await request(base, path)).status, 404, `${path} without a token: answered as a missing video`)
  }
  const playback = JSON.parse((await app.inject({ url: `/api/videos/${pid}/playback`, headers: { authorization: `Bearer ${app.jwt.sign({ sub: priv.video.owner, role: 'teacher' })}` } })).body) as { adaptiveUrl: string, sid: string, token: string }
  const playlist = await request(base, playback.adaptiveUrl)
  t.equal(playlist.status, 200, 'the adaptive playlist with the token')
  const first = playlist.body.toString().split('\n').find((l) => l.startsWith('/adaptive_stream/'))!
  t.match(first, new RegExp(`\\?token=[^&]+&sid=${playback.sid}$`), 'its segment URIs carry the token and the session')
  const seg = await request(base, first)
  t.equal(seg.status, 200)
  t.ok(seg.body.equals(priv.objects.get(`videos/${pid}/${priv.video.version!}/${seg.headers['lectern-rendition'] as string}/${segmentName(0)}`)!))
})

t.test('answers of one segment held in memory carry their own session\'s CMSD-Dynamic, and otherwise the same head', async (t) => {
  const seg = `/hls/${id}/360p/${segmentName(9)}`
  t.equal((await request(base, seg)).status, 200, 'in memory now')
  // Two sessions whose players reported 300 and 3,000 kbit/s (CMCD headers go through the router).
  const reported = [300, 3000]
  const sids: string[] = []
  for (const mtp of reported) {
    const sid = sidOf((await request(base, `/hls/${id}/master.m3u8`)).body.toString())
    await request(base, `${seg}?sid=${sid}`, { headers: { 'cmcd-request': `mtp=${mtp}` } })
    await app.abrSessions.settled()
    sids.push(sid)
  }
  const etp = sids.map((sid) => Math.round(app.abrSessions.peek(sid)!.estimate! / 1000))
  const fastAnswers = async (): Promise<number> => sum((await scrape(base)).samples, 'lectern_http_requests_total', { route: 'fast-path' })
  const before = await fastAnswers()
  // Interleaved, each on a connection of its own (no gap sample moves the estimates meanwhile).
  const asked = [0, 1, null, 0, 1, null] as const
  const answers: Awaited<ReturnType<typeof request>>[] = []
  for (const who of asked) answers.push(await request(base, who === null ? seg : `${seg}?sid=${sids[who]!}`))
  t.equal(await fastAnswers() - before, asked.length, 'all answered from memory, ahead of the router')
  const headOf = (h: http.IncomingHttpHeaders): Record<string, unknown> => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'date' && k !== 'cmsd-dynamic'))
  asked.forEach((who, i) => {
    const res = answers[i]!
    t.ok(res.body.equals(stored(`360p/${segmentName(9)}`)), `answer ${i}: the stored bytes`)
    t.same(headOf(res.headers), headOf(answers[2]!.headers), `answer ${i}: the object's head`)
    if (who === null) {
      t.equal(res.headers['cmsd-dynamic'], undefined, `answer ${i}, no session: no CMSD-Dynamic`)
      return
    }
    // The second session starts from what the first achieved on the same network, so it is not at 3,000 yet.
    t.equal(res.headers['cmsd-dynamic'], `etp=${etp[who]!},mb=664`, `answer ${i}: its own session's estimate and the rung's bitrate`)
  })
  t.ok(etp[0]! < etp[1]!, `the sessions' estimates differ (${etp.join(', ')} kbit/s)`)
})

t.test('on one connection, each request is its own session\'s (matched in place or looked up), and a query that is no session id goes to the router as none', async (t) => {
  const seg = `/hls/${id}/360p/${segmentName(10)}`
  t.equal((await request(base, seg)).status, 200, 'in memory now')
  const sids: string[] = []
  for (const mtp of [300, 3000]) {
    const sid = sidOf((await request(base, `/hls/${id}/master.m3u8`)).body.toString())
    await request(base, `${seg}?sid=${sid}`, { headers: { 'cmcd-request': `mtp=${mtp}` } })
    await app.abrSessions.settled()
    sids.push(sid)
  }
  const estimateOf = (sid: string): number | null | undefined => app.abrSessions.peek(sid)?.estimate
  t.not(Math.round(estimateOf(sids[0]!)! / 1000), Math.round(estimateOf(sids[1]!)! / 1000), 'the two sessions\' estimates differ')
  // 'short' and 'a.b.c.d.e.f' are not session ids (too short; a character outside the alphabet).
  // Session 0 again right after itself is matched in place; after another, looked up.
  const asked = [sids[0]!, sids[0]!, sids[1]!, 'short', sids[1]!, 'a.b.c.d.e.f', sids[0]!, sids[0]! + 'x', sids[0]! + 'x']
  const valid = (sid: string): boolean => /^[A-Za-z0-9_-]{8,64}$/.test(sid)
  const fastAnswers = async (): Promise<number> => sum((await scrape(base)).samples, 'lectern_http_requests_total', { route: 'fast-path' })
  // The fast path answers while the video's document is fresh (1 s); a run that crosses the moment
  // it expires sends one request to the router, so the run is repeated (at most 3 times).
  let answers: Awaited<ReturnType<typeof request>>[] = []
  let expected: Array<string | undefined> = []
  let fast = 0
  for (let attempt = 0; attempt < 3 && fast !== asked.filter(valid).length; attempt++) {
    const oneConnection = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const before = await fastAnswers()
    answers = []
    expected = []
    for (const sid of asked) {
      // What the answer must say: the session's estimate as this node holds it when the request
      // comes (the gap sample a request completes is applied after its answer).
      await app.abrSessions.settled()
      const estimate = estimateOf(sid)
      expected.push(estimate === undefined || estimate === null ? undefined : `etp=${Math.round(estimate / 1000)},mb=664`)
      answers.push(await request(base, `${seg}?sid=${sid}`, { agent: oneConnection }))
    }
    fast = await fastAnswers() - before
    oneConnection.destroy()
  }
  t.equal(new Set(answers.map((a) => a.localPort)).size, 1, 'all on one connection')
  t.equal(fast, asked.filter(valid).length, 'the session ids answered from memory, the others by the router')
  asked.forEach((sid, i) => {
    const res = answers[i]!
    t.equal(res.status, 200, `answer ${i}: 200`)
    t.ok(res.body.equals(stored(`360p/${segmentName(10)}`)), `answer ${i}: the stored bytes`)
    const which = sids.indexOf(sid)
    if (which >= 0) t.equal(res.headers['cmsd-dynamic'], expected[i], `answer ${i}: session ${which}'s estimate`)
    else if (valid(sid)) t.equal(res.headers['cmsd-dynamic'], undefined, `answer ${i}: a session nothing is known of (a longer id than session 0's): no estimate`)
    else t.equal(res.headers['cmsd-dynamic'], undefined, `answer ${i}, ${JSON.stringify(sid)}: no session, no CMSD-Dynamic`)
  })
})
