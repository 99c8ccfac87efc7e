import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { forgePlaybackToken } from '../helpers/forge.js'
import { registerAccount } from '../plugins/accounts.js'
import { publishVideo } from '../delivery/fixtures.js'
import { del, get, listen, uploadCaptions } from './helpers.js'

// Upload, validation, storage, listing, replacement and deletion of captions, over real HTTP.
// The expected files below are written out by hand from the WebVTT and SRT formats.

const { app } = await buildTestApp(t)
const base = await listen(t, app)
const admin = await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')
const stranger = await registerAccount(app, 'stranger')
// No real media is needed to serve captions: a ready video with an empty ladder.
const ladder = new Map([['master.m3u8', Buffer.from('#EXTM3U\n')]])
const captionObjects = async (id: string) => (await app.storage.list(`videos/${id}/captions/`)).map((o) => o.key)

const SRT = '\ufeff1\r\n00:00:04,000 --> 00:00:06,250\r\n<i>Second</i> cue,\r\non two lines\r\n\r\n' +
  '2\r\n00:00:01,000 --> 00:00:03,500\r\n<b>First</b> cue &amp; more\r\n\r\n'
const SRT_AS_VTT = 'WEBVTT\n\n2\n00:00:01.000 --> 00:00:03.500\n<b>First</b> cue &amp; more\n\n' +
  '1\n00:00:04.000 --> 00:00:06.250\n<i>Second</i> cue,\non two lines\n\n'

t.test('SRT with a BOM, CRLF, a multi-line cue and tags: stored as sorted WebVTT, tags kept for display, stripped for the transcript', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const up = await uploadCaptions(base, video._id, SRT, { language: 'en' }, owner.auth, 'lecture.srt')
  t.equal(up.status, 201, up.text)
  t.equal(up.json.language, 'en')
  t.equal(up.json.label, 'English')
  t.equal(up.json.cues, 2)
  t.equal(up.json.url, `/captions/${video._id}/en.vtt`)
  t.equal(up.headers.get('location'), `/captions/${video._id}/en.vtt`)

  const file = await get(base, `/captions/${video._id}/en.vtt`)
  t.equal(file.status, 200)
  t.match(file.headers.get('content-type'), /^text\/vtt/)
  t.equal(file.text, SRT_AS_VTT)
  const etag = file.headers.get('etag')!
  t.equal((await get(base, `/captions/${video._id}/en.vtt`, { 'if-none-match': etag })).status, 304)

  const transcript = await get(base, `/api/videos/${video._id}/transcript`)
  t.equal(transcript.status, 200)
  t.same(transcript.json.cues.map((c: { start: number, end: number, text: string }) => [c.start, c.end, c.text]), [
    [1, 3.5, 'First cue & more'],
    [4, 6.25, 'Second cue, on two lines']
  ])
  const list = await get(base, `/api/videos/${video._id}/captions`)
  t.same(list.json.items.map((i: { language: string, label: string }) => [i.language, i.label]), [['en', 'English']])
})

t.test('WebVTT with a BOM, header lines, a STYLE block, settings and overlapping cues: all kept', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const vtt = '\ufeffWEBVTT - lecture\nKind: captions\nLanguage: fr\n\nSTYLE\n::cue { color: yellow }\n\nNOTE a comment\n\n' +
    'b\n00:00:02.000 --> 00:00:05.000 align:start\nÉcoutez <v Prof>bien</v>\n\n' +
    '00:01.000 --> 00:04.000\nen même temps\n'
  const up = await uploadCaptions(base, video._id, vtt, { language: 'FR-ca', label: 'Français (Québec)' }, owner.auth)
  t.equal(up.status, 201, up.text)
  t.equal(up.json.language, 'fr-CA', 'the tag is canonicalised')
  t.equal(up.json.label, 'Français (Québec)')
  const file = await get(base, `/captions/${video._id}/fr-CA.vtt`)
  t.equal(file.text, 'WEBVTT\n\nSTYLE\n::cue { color: yellow }\n\n' +
    '00:00:01.000 --> 00:00:04.000\nen même temps\n\n' +
    'b\n00:00:02.000 --> 00:00:05.000 align:start\nÉcoutez <v Prof>bien</v>\n\n')
})

t.test('malformed files are refused with the line at fault; nothing is stored', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const cases: Array<[string, string | Uint8Array, RegExp]> = [
    ['a broken timing line in WebVTT', 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfine\n\n00:00:03.000 -> 00:00:04.000\noops\n', /^file: line 6: /],
    ['minutes over 59', 'WEBVTT\n\n00:61:01.000 --> 00:62:02.000\nx\n', /^file: line 3: /],
    ['an end before its start', 'WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nx\n', /^file: line 3: .*End timestamp/],
    ['an SRT cue number without its timing line', '1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nthis is not a timing line\n', /^file: line 6: /],
    ['neither WebVTT nor SRT', 'Hello, this is a transcript\nwithout any times\n', /^file: line 1: is neither/],
    ['no cues', 'WEBVTT\n\nNOTE nothing here\n', /^file: line \d+: the file has no cues/],
    ['an empty file', '', /^file: line 1: the file is empty/],
    ['Latin-1 text', Buffer.concat([Buffer.from('WEBVTT\n\n00:00:01.000 --> 00:00:02.000\ncaf'), Buffer.from([0xe9]), Buffer.from('\n')]), /^file: line 4: is not UTF-8/]
  ]
  for (const [name, body, message] of cases) {
    const res = await uploadCaptions(base, video._id, body, { language: 'en' }, owner.auth)
    t.equal(res.status, 400, name)
    t.match(res.json?.message, message, `${name}: ${res.json?.message}`)
  }
  const badLanguage = await uploadCaptions(base, video._id, 'WEBVTT\n\n00:01.000 --> 00:02.000\nx\n', { language: 'english please' }, owner.auth)
  t.equal(badLanguage.status, 400)
  t.match(badLanguage.json.message, /^language: /)
  const noLanguage = await uploadCaptions(base, video._id, 'WEBVTT\n\n00:01.000 --> 00:02.000\nx\n', {}, owner.auth)
  t.equal(noLanguage.status, 400)
  t.match(noLanguage.json.message, /^language: is missing/)
  const cue = '00:00:01.000 --> 00:00:02.000\n' + 'x'.repeat(1000) + '\n\n'
  const huge = 'WEBVTT\n\n' + cue.repeat(Math.ceil(2 * 1024 * 1024 / cue.length) + 1)
  const tooLarge = await uploadCaptions(base, video._id, huge, { language: 'en' }, owner.auth)
  t.equal(tooLarge.status, 413)
  t.same(await captionObjects(video._id), [], 'no file was left behind')
  t.equal((await get(base, `/api/videos/${video._id}/captions`)).json.items.length, 0)
})

t.test('only the owner or an admin may change captions', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const vtt = 'WEBVTT\n\n00:01.000 --> 00:02.000\nx\n'
  t.equal((await uploadCaptions(base, video._id, vtt, { language: 'en' })).status, 401)
  t.equal((await uploadCaptions(base, video._id, vtt, { language: 'en' }, stranger.auth)).status, 403)
  t.equal((await uploadCaptions(base, video._id, vtt, { language: 'en' }, admin.auth)).status, 201)
  t.equal((await del(base, `/api/videos/${video._id}/captions/en`, stranger.auth)).status, 403)
  const { video: hidden } = await publishVideo(app, ladder, { owner: owner.id, visibility: 'private' })
  t.equal((await uploadCaptions(base, hidden._id, vtt, { language: 'en' }, stranger.auth)).status, 404, 'a private video of another does not exist for them')
})

t.test('replacing a language swaps the file at once and removes the old one; deleting removes it', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id })
  const first = 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfirst version\n'
  const second = 'WEBVTT\n\n00:00:03.000 --> 00:00:04.000\nsecond version\n'
  t.equal((await uploadCaptions(base, video._id, first, { language: 'en' }, owner.auth)).status, 201)
  t.equal((await uploadCaptions(base, video._id, 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhola\n', { language: 'es' }, owner.auth)).status, 201)
  const oldKeys = await captionObjects(video._id)
  t.equal(oldKeys.length, 2)
  const replaced = await uploadCaptions(base, video._id, second, { language: 'en' }, owner.auth)
  t.equal(replaced.status, 200, 'a replacement is a 200, not a 201')
  t.equal((await get(base, `/captions/${video._id}/en.vtt`)).text, 'WEBVTT\n\n00:00:03.000 --> 00:00:04.000\nsecond version\n\n')
  const keys = await captionObjects(video._id)
  t.equal(keys.length, 2, 'one file per language')
  t.equal(keys.filter((k) => oldKeys.includes(k)).length, 1, 'the Spanish file stayed, the first English one went')
  t.same((await get(base, `/api/videos/${video._id}/captions`)).json.items.map((i: { language: string }) => i.language), ['en', 'es'])

  // A malformed replacement leaves the current file in place.
  t.equal((await uploadCaptions(base, video._id, 'WEBVTT\n\nbroken --> x\n', { language: 'en' }, owner.auth)).status, 400)
  t.match((await get(base, `/captions/${video._id}/en.vtt`)).text, /second version/)

  t.equal((await del(base, `/api/videos/${video._id}/captions/en`, owner.auth)).status, 204)
  t.equal((await get(base, `/captions/${video._id}/en.vtt`)).status, 404)
  t.equal((await del(base, `/api/videos/${video._id}/captions/en`, owner.auth)).status, 404)
  t.equal((await captionObjects(video._id)).length, 1)
  t.same((await get(base, `/api/videos/${video._id}/captions`)).json.items.map((i: { language: string }) => i.language), ['es'])

  // Deleting the video takes its captions with it.
  t.equal((await del(base, `/api/videos/${video._id}`, owner.auth)).status, 204)
  t.same(await captionObjects(video._id), [])
})

t.test('a private video\'s captions follow the video\'s access rules', async (t) => {
  const { video } = await publishVideo(app, ladder, { owner: owner.id, visibility: 'private' })
  t.equal((await uploadCaptions(base, video._id, 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nsecret words\n', { language: 'en' }, owner.auth)).status, 201)
  const path = `/captions/${video._id}/en.vtt`
  t.equal((await get(base, path)).status, 404, 'anonymous: as if missing')
  t.equal((await get(base, path, stranger.auth)).status, 404, 'another account: as if missing')
  t.equal((await get(base, `/api/videos/${video._id}/captions`, stranger.auth)).status, 404)
  t.equal((await get(base, `/api/videos/${video._id}/transcript`, stranger.auth)).status, 404)
  const owned = await get(base, path, owner.auth)
  t.equal(owned.status, 200)
  t.match(owned.headers.get('cache-control'), /private/)
  const token = forgePlaybackToken(app.secret, video._id, Math.floor(Date.now() / 1000) + 600)
  const withToken = await get(base, `${path}?token=${encodeURIComponent(token)}`)
  t.equal(withToken.status, 200)
  t.match(withToken.text, /secret words/)
  t.equal((await get(base, `/api/videos/${video._id}/transcript?token=${encodeURIComponent(token)}`)).status, 200)
  const otherVideo = await publishVideo(app, ladder, { owner: owner.id, visibility: 'private' })
  const wrong = forgePlaybackToken(app.secret, otherVideo.video._id, Math.floor(Date.now() / 1000) + 600)
  t.equal((await get(base, `${path}?token=${encodeURIComponent(wrong)}`)).status, 404, 'a token for another video opens nothing')
})
