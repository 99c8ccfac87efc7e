import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerAccount } from '../plugins/accounts.js'
import { publishVideo } from '../delivery/fixtures.js'
import type { Video } from '../../src/db/documents.js'
import { VIDEOS } from '../../src/db/video-repository.js'
import { del, get, listen, uploadCaptions } from './helpers.js'

// Search over what is said: caption cues are found with the moment they are said, a title match
// still ranks first, private captions stay private; and the transcript of one video.

const { app } = await buildTestApp(t)
const base = await listen(t, app)
await registerAccount(app, 'admin')
const owner = await registerAccount(app, 'owner')
const stranger = await registerAccount(app, 'stranger')
const ladder = new Map([['master.m3u8', Buffer.from('#EXTM3U\n')]])

async function lecture (title: string, visibility: 'public' | 'private' = 'public'): Promise<string> {
  const { video } = await publishVideo(app, ladder, { owner: owner.id, visibility })
  await app.db.collection<Video>(VIDEOS).updateOne({ _id: video._id }, { $set: { title, updatedAt: new Date() } })
  await app.searchIndex.refresh(video._id)
  return video._id
}
const search = async (q: string, auth?: { authorization: string }) => (await get(base, `/api/search?q=${encodeURIComponent(q)}`, auth)).json

const titleMatch = await lecture('Carnot engines')
const spoken = await lecture('Thermodynamics, part two')
const hidden = await lecture('Office hours', 'private')
const captions = 'WEBVTT\n\n' +
  '00:00:10.000 --> 00:00:12.500\nToday we discuss the <b>Carnot</b> cycle\n\n' +
  '00:00:30.000 --> 00:00:33.000\nentropy never decreases\n\n' +
  '00:00:40.000 --> 00:00:42.000\nCarnot again, and Éléphant\n\n' +
  '00:00:50.000 --> 00:00:51.000\nx &lt; y &amp; z\n'
for (const [id, vtt] of [[spoken, captions], [hidden, 'WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nthe Carnot exam answers are secret\n']] as const) {
  const up = await uploadCaptions(base, id, vtt, { language: 'en' }, owner.auth)
  if (up.status !== 201) throw new Error(`set-up upload failed: ${up.status} ${up.text}`)
}

t.test('a word said only in the captions finds the video with the moment it is said; a title match ranks first', async (t) => {
  const found = await search('carnot')
  t.same(found.items.map((i: { id: string }) => i.id), [titleMatch, spoken])
  t.same(found.items[0].moments, [], 'the title match has no caption moments')
  t.same(found.items[1].moments, [
    { start: 10, end: 12.5, text: 'Today we discuss the <mark>Carnot</mark> cycle' },
    { start: 40, end: 42, text: '<mark>Carnot</mark> again, and Éléphant' }
  ], 'styling tags are not searched or returned; the word is marked')
  t.ok(found.items[0].relevance > found.items[1].relevance)
})

t.test('moments: most query words first, folded for case and accents, the last word a prefix, HTML escaped', async (t) => {
  t.same((await search('decreases entropy')).items[0].moments, [{ start: 30, end: 33, text: '<mark>entropy</mark> never <mark>decreases</mark>' }])
  t.same((await search('ELEPHANT')).items.map((i: { id: string, moments: unknown[] }) => [i.id, i.moments]), [[spoken, [{ start: 40, end: 42, text: 'Carnot again, and <mark>Éléphant</mark>' }]]])
  t.same((await search('entro')).items[0]?.moments.map((m: { start: number }) => m.start), [30])
  t.same((await search('z ')).items[0]?.moments, [{ start: 50, end: 51, text: 'x &lt; y &amp; <mark>z</mark>' }])
  const both = (await search('carnot entropy')).items.find((i: { id: string }) => i.id === spoken)
  t.same(both.moments.map((m: { start: number }) => m.start), [10, 30, 40], 'one word each: in time order')
})

t.test('a private video\'s captions never appear in search, for anyone', async (t) => {
  t.same((await search('secret')).items, [])
  t.same((await search('secret', stranger.auth)).items, [])
  t.same((await search('secret', owner.auth)).items, [], 'search lists public videos only, its owner\'s too')
  const exam = (await search('exam')).items
  t.notOk(exam.some((i: { id: string }) => i.id === hidden))
})

t.test('the transcript of one video, and a search within it', async (t) => {
  const all = (await get(base, `/api/videos/${spoken}/transcript`)).json
  t.equal(all.language, 'en')
  t.same(all.cues.map((c: { start: number, text: string }) => [c.start, c.text]), [
    [10, 'Today we discuss the Carnot cycle'], [30, 'entropy never decreases'], [40, 'Carnot again, and Éléphant'], [50, 'x < y & z']
  ])
  const within = (await get(base, `/api/videos/${spoken}/transcript?q=carnot`)).json
  t.same(within.cues.map((c: { start: number, marked: string }) => [c.start, c.marked]), [
    [10, 'Today we discuss the <mark>Carnot</mark> cycle'], [40, '<mark>Carnot</mark> again, and Éléphant']
  ])
  t.same((await get(base, `/api/videos/${spoken}/transcript?q=nothing+like+this+`)).json.cues, [])
  t.equal((await get(base, `/api/videos/${hidden}/transcript?q=secret`)).status, 404, 'anonymous')
  t.equal((await get(base, `/api/videos/${hidden}/transcript?q=secret`, stranger.auth)).status, 404, 'another account')
  t.same((await get(base, `/api/videos/${hidden}/transcript?q=secret`, owner.auth)).json.cues.map((c: { start: number }) => c.start), [5], 'its owner')
  t.equal((await get(base, `/api/videos/${titleMatch}/transcript`)).status, 404, 'no captions')
})

t.test('changing and deleting captions changes what search finds', async (t) => {
  t.equal((await uploadCaptions(base, spoken, 'WEBVTT\n\n00:01:00.000 --> 00:01:02.000\nheat engines only\n', { language: 'en' }, owner.auth)).status, 200)
  t.same((await search('entropy')).items, [], 'the replaced words are gone')
  t.same((await search('heat')).items[0]?.moments, [{ start: 60, end: 62, text: '<mark>heat</mark> engines only' }])
  t.equal((await del(base, `/api/videos/${spoken}/captions/en`, owner.auth)).status, 204)
  t.same((await search('heat')).items, [])
  // A caption made private with its video leaves search too.
  const later = await lecture('Statistics')
  t.equal((await uploadCaptions(base, later, 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nvariance explained\n', { language: 'en' }, owner.auth)).status, 201)
  t.equal((await search('variance')).items.length, 1)
  const patched = await fetch(`${base}/api/videos/${later}`, { method: 'PATCH', headers: { ...owner.auth, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'private' }) })
  t.equal(patched.status, 200)
  t.same((await search('variance')).items, [])
})
