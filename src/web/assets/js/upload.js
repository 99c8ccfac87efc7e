// Upload: send the file over tus (tus-js-client, served from its npm package), in chunks that
// the server keeps, so a dropped connection, a sleeping laptop or a reload does not start it again
// from zero; then follow the transcode by polling the video until it is ready. The browser keeps
// the address of each unfinished upload (localStorage), so choosing the same file again goes on
// from where it stopped. Errors are said in terms a teacher can act on. A caption file chosen with
// the video is sent once the upload has become a video, while it transcodes.
import { $, h } from './dom.js'
import { captionProblem, defaultCaptionLanguage, sendCaptions } from './caption-file.js'
import { api, accountForm, getSession, mountHeader, onSession, openSignIn, refresh, signOut } from './session.js'
import { formatBytes, formatRate, spokenDuration } from './format.js'

mountHeader()

const form = $('#upload-form')
const signedOut = $('#signed-out')
const fileInput = $('#file')
const drop = $('#drop')
const titleInput = $('#title')
const formError = $('#form-error')
const panel = $('#progress-panel')
const sendBar = $('#send-bar')
const sendText = $('#send-text')
const transcode = $('#transcode')
const transcodeBar = $('#transcode-bar')
const transcodeText = $('#transcode-text')
const statusLine = $('#upload-status')
const uploadError = $('#upload-error')
const watchLink = $('#watch-link')
const cancelButton = $('#cancel-button')
const resumeButton = $('#resume-button')
const unfinished = $('#unfinished')
const unfinishedList = $('#unfinished-list')
/** The classic script before this module defines it; without it (a blocked script) uploads cannot start. */
const tus = window.tus
const againButton = $('#again-button')
const captionFile = $('#caption-file')
const captionLanguage = $('#caption-language')
const captionLabel = $('#caption-label')
const captionStatus = $('#caption-status')
const captionError = $('#caption-error')
captionLanguage.value = defaultCaptionLanguage()

let maxBytes = null
fetch('/assets/config.json').then((r) => r.json()).then((config) => {
  maxBytes = config.uploadMaxBytes
  $('#limit-hint').textContent = `, up to ${formatBytes(maxBytes)}`
}, () => {})

let busy = false
const signInForm = accountForm()
signedOut.append(signInForm)
onSession((session) => {
  if (busy) return
  signedOut.hidden = session !== null
  form.hidden = session === null
  showUnfinished()
})

function describeFile () {
  const file = fileInput.files?.[0]
  $('#file-info').textContent = file === undefined ? '' : `Selected: ${file.name} (${formatBytes(file.size)})`
  // A title from the file name saves typing; the teacher can change it.
  if (file !== undefined && titleInput.value.trim() === '') {
    titleInput.value = file.name.replace(/\.[^.]+$/, '').replace(/[_-]+/g, ' ').trim()
  }
}
fileInput.addEventListener('change', describeFile)
fileInput.addEventListener('change', () => { void offerResume() })

for (const type of ['dragenter', 'dragover']) {
  drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add('over') })
}
for (const type of ['dragleave', 'drop']) {
  drop.addEventListener(type, () => drop.classList.remove('over'))
}
drop.addEventListener('drop', (event) => {
  event.preventDefault()
  if (event.dataTransfer?.files.length) {
    fileInput.files = event.dataTransfer.files
    describeFile()
  }
})

/** Each PATCH carries at most this much (a multiple of the S3 part size, so no part is split). */
const CHUNK_BYTES = 64 * 1024 * 1024
/** About twenty minutes of retries; after that the upload waits for the network or the Resume button. */
const RETRY_DELAYS = [0, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 15000, 15000, ...new Array(36).fill(30000)]
const ENDPOINT = '/api/uploads'

let upload = null
let paused = false
let pollTimer = null

/** The browser's memory of unfinished uploads, per user: one user's never resumes as another's. */
const fingerprintOf = (file) => {
  const user = getSession()?.user?.id ?? 'anonymous'
  return Promise.resolve(['lectern', user, file.name, file.type, file.size, file.lastModified].join('/'))
}
const storagePrefix = () => `tus::lectern/${getSession()?.user?.id ?? 'anonymous'}/`

async function storedUploads () {
  if (tus?.defaultOptions?.urlStorage === undefined) return []
  const all = await tus.defaultOptions.urlStorage.findAllUploads().catch(() => [])
  return all.filter((u) => typeof u.urlStorageKey === 'string' && u.urlStorageKey.startsWith(storagePrefix()))
}

const tusHeaders = () => {
  const session = getSession()
  return session === null ? { 'Tus-Resumable': '1.0.0' } : { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${session.token}` }
}

/** Lists the unfinished uploads this browser remembers for the signed-in user. */
async function showUnfinished () {
  const session = getSession()
  const stored = session === null || busy ? [] : await storedUploads()
  unfinishedList.replaceChildren(...stored.map((u) => {
    const title = u.metadata?.title ?? 'Untitled'
    const name = u.metadata?.filename ?? 'a file'
    const discard = h('button', { type: 'button', class: 'secondary' }, 'Discard')
    discard.addEventListener('click', async () => {
      discard.disabled = true
      // Terminate it on the server (its part is removed), then forget it here.
      if (typeof u.uploadUrl === 'string') await fetch(u.uploadUrl, { method: 'DELETE', headers: tusHeaders() }).catch(() => {})
      await tus.defaultOptions.urlStorage.removeUpload(u.urlStorageKey).catch(() => {})
      void showUnfinished()
    })
    return h('li', {}, h('span', {}, `“${title}” (${name}, ${formatBytes(u.size)}). Choose ${name} again to go on. `), discard)
  }))
  unfinished.hidden = stored.length === 0
}

/** When the chosen file was partly sent before, say so and bring back its title and details. */
async function offerResume () {
  const file = fileInput.files?.[0]
  if (file === undefined || tus === undefined || getSession() === null) return
  const previous = await new tus.Upload(file, { endpoint: ENDPOINT, fingerprint: fingerprintOf }).findPreviousUploads().catch(() => [])
  const last = previous[previous.length - 1]
  if (last === undefined) return
  const m = last.metadata ?? {}
  if (typeof m.title === 'string') titleInput.value = m.title
  if (typeof m.description === 'string') $('#description').value = m.description
  if (typeof m.tags === 'string') $('#tags').value = m.tags
  const choice = form.querySelector(`input[name="visibility"][value="${m.visibility}"]`)
  if (choice !== null) choice.checked = true
  $('#file-info').textContent = `Selected: ${file.name} (${formatBytes(file.size)}). Part of this file was sent before: the upload goes on from where it stopped.`
}

function fail (message) {
  uploadError.textContent = message
  statusLine.textContent = ''
  panel.dataset.state = 'failed'
  cancelButton.hidden = true
  resumeButton.hidden = true
  againButton.hidden = false
  busy = false
  upload = null
}

/** The upload's answer, in words: what went wrong and what to do about it. */
function explain (status, body) {
  const message = body?.message ?? ''
  switch (status) {
    case 401:
      signOut()
      return 'You are signed out (your session may have expired). Sign in again, then choose the same file: the upload goes on from where it stopped.'
    case 413: {
      // Lectern's answer names its limit; a proxy in front (nginx client_max_body_size) may not.
      const limit = /limit of (\d+) MB/.exec(message)?.[1]
      return `This file is too large for this server${limit === undefined ? '' : ` (the limit is ${limit} MB)`}. Ask your administrator to raise the limit (UPLOAD_MAX_MB), or shorten or compress the video.`
    }
    case 415:
      return 'This file is not a video Lectern can read. Choose a video file, for example MP4, MOV, MKV or WebM.'
    case 400:
      return `The upload was refused: ${message}`
    case 404:
    case 410:
      return 'This upload was too old to go on (unfinished uploads are kept for a limited time) or was cancelled. Upload the file again.'
    default:
      return status >= 500
        ? `The server could not store the file (error ${status}). Try again in a few minutes; if it keeps failing, tell your administrator.`
        : `The upload was refused (error ${status}): ${message}`
  }
}

const statusOf = (err) => err?.originalResponse?.getStatus?.() ?? 0
function bodyOf (err) {
  try { return JSON.parse(err?.originalResponse?.getBody?.() ?? 'null') } catch { return null }
}
/** Worth trying again: no answer at all (network), the server busy or restarting, or another request in the way. */
const retryable = (status) => status === 0 || status >= 500 || status === 409 || status === 423

/** The caption file chosen with the video, checked; null when there is none, undefined when it is wrong (the error is shown). */
function chosenCaptions () {
  for (const input of [captionFile, captionLanguage]) input.removeAttribute('aria-invalid')
  const file = captionFile.files?.[0]
  if (file === undefined) return null
  const language = captionLanguage.value.trim()
  const problem = captionProblem(file, language)
  if (problem !== null) {
    const input = problem.field === 'file' ? captionFile : captionLanguage
    input.setAttribute('aria-invalid', 'true')
    formError.textContent = `Captions: ${problem.message}`
    input.focus()
    return undefined
  }
  return { file, language, label: captionLabel.value.trim() }
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  formError.textContent = ''
  const file = fileInput.files?.[0]
  const title = titleInput.value.trim()
  if (file === undefined) { formError.textContent = 'Choose a video file to upload.'; fileInput.focus(); return }
  if (title === '') { formError.textContent = 'Give the video a title.'; titleInput.focus(); return }
  if (file.size === 0) { formError.textContent = 'This file is empty. Choose another one.'; fileInput.focus(); return }
  if (maxBytes !== null && file.size > maxBytes) {
    formError.textContent = `This file is too large: ${formatBytes(file.size)}, and the limit on this server is ${formatBytes(maxBytes)}. Ask your administrator to raise UPLOAD_MAX_MB, or shorten or compress the video.`
    fileInput.focus()
    return
  }
  const captions = chosenCaptions()
  if (captions === undefined) return
  if (tus === undefined) { formError.textContent = 'The upload script did not load. Reload the page and try again.'; return }
  const session = getSession()
  if (session === null) { openSignIn(); return }
  void start(file, title, captions)
})

/** Sends the captions chosen with the video, now that it exists; the video goes on either way. */
async function addCaptions (videoId, captions) {
  captionStatus.textContent = `Adding the captions from ${captions.file.name}…`
  try {
    const track = await sendCaptions(videoId, captions)
    captionStatus.textContent = `Captions added: ${track.label} (${track.language}), ${track.cues} ${track.cues === 1 ? 'line' : 'lines'}.`
  } catch (err) {
    captionStatus.textContent = ''
    captionError.textContent = `The video was uploaded, but its captions were not: ${err.message.replace(/\.?$/, '.')} Correct the file and add it from the video's page.`
  }
}

function showPaused (reason) {
  paused = true
  panel.dataset.state = 'paused'
  const percent = sendBar.value
  statusLine.textContent = `Paused at ${percent}%: ${reason} It goes on by itself as soon as Lectern can be reached again; keep this page open.`
  resumeButton.hidden = false
}

async function start (file, title, captions) {
  busy = true
  unfinished.hidden = true
  form.hidden = true
  panel.hidden = false
  panel.dataset.state = 'sending'
  $('#progress-title').textContent = `Uploading “${title}”`
  sendBar.value = 0
  sendText.textContent = `0% of ${formatBytes(file.size)}`
  transcode.hidden = true
  watchLink.hidden = true
  againButton.hidden = true
  resumeButton.hidden = true
  cancelButton.hidden = false
  uploadError.textContent = ''
  captionStatus.textContent = ''
  captionError.textContent = ''
  statusLine.textContent = 'Sending the file…'
  paused = false

  const started = performance.now()
  let samples = [] // [time, bytes] over the last few seconds, for a steady speed
  let renewed = false
  const current = new tus.Upload(file, {
    endpoint: ENDPOINT,
    // The last PATCH then answers with the video itself (202), as the multipart upload does.
    headers: { Accept: 'application/json' },
    chunkSize: CHUNK_BYTES,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    fingerprint: fingerprintOf,
    metadata: {
      title,
      description: $('#description').value,
      tags: $('#tags').value,
      visibility: form.querySelector('input[name="visibility"]:checked')?.value ?? 'public',
      filename: file.name,
      filetype: file.type
    },
    // The token is read at each request: signing in again in another tab carries on here.
    onBeforeRequest: (req) => {
      const session = getSession()
      if (session !== null) req.setHeader('Authorization', `Bearer ${session.token}`)
    },
    onProgress: (sent, total) => {
      if (upload !== current) return
      renewed = false
      const now = performance.now()
      if (paused) {
        paused = false
        samples = []
        panel.dataset.state = 'sending'
        resumeButton.hidden = true
        statusLine.textContent = `Connected again: resumed at ${Math.floor((sent / total) * 100)}%.`
      }
      samples.push([now, sent])
      while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift()
      const [t0, b0] = samples[0]
      const elapsed = (now - t0) / 1000
      const speed = elapsed > 0 ? (sent - b0) / elapsed : 0
      const percent = Math.floor((sent / total) * 100)
      sendBar.value = percent
      const left = speed > 0 ? (total - sent) / speed : null
      sendText.textContent = `${percent}% · ${formatBytes(sent)} of ${formatBytes(total)}` +
        (speed > 0 ? ` · ${formatRate(speed)}` : '') +
        (left !== null && sent < total ? ` · about ${spokenDuration(left)} left` : '')
    },
    onShouldRetry: (err) => {
      const status = statusOf(err)
      if (!retryable(status)) return false
      if (upload === current) showPaused(status === 0 ? 'the connection to Lectern was lost.' : `Lectern did not answer properly (error ${status}).`)
      return true
    },
    onError: (err) => {
      if (upload !== current) return
      const status = statusOf(err)
      // Out of automatic retries while the network is away: wait for it, or for the Resume button.
      if (retryable(status)) {
        showPaused('the connection to Lectern was lost. Check your network.')
        return
      }
      // The access token ran out (a laptop that slept through its renewal): renew it once and go on.
      if (status === 401 && !renewed) {
        renewed = true
        void refresh().then((ok) => {
          if (upload !== current) return
          if (ok) current.start()
          else fail(explain(401))
        })
        return
      }
      fail(explain(status, bodyOf(err)))
    },
    onSuccess: ({ lastResponse } = {}) => {
      if (upload !== current) return
      upload = null
      sendBar.value = 100
      sendText.textContent = `100% · ${formatBytes(file.size)} sent in ${spokenDuration((performance.now() - started) / 1000)}`
      statusLine.textContent = 'File sent. Lectern is checking it…'
      // The upload's id is the id of the video it became.
      const id = decodeURIComponent(new URL(current.url, location.href).pathname.split('/').pop())
      if (captions !== null) void addCaptions(id, captions)
      let answered = null
      try { answered = JSON.parse(lastResponse?.getBody?.() || 'null') } catch {}
      if (answered?.id === id) { follow(answered); return }
      // A finish whose answer was lost (the resumed upload found it complete): ask for the video.
      const show = () => api(`/api/videos/${encodeURIComponent(id)}`).then(follow, (err) => {
        if (err.status === 0) { setTimeout(show, 2000); return }
        fail(err.status === 401 ? explain(401) : `The file was sent, but Lectern could not show the video: ${err.message}`)
      })
      void show()
    }
  })
  upload = current
  const previous = await current.findPreviousUploads().catch(() => [])
  const last = previous[previous.length - 1]
  if (last !== undefined) {
    current.resumeFromPreviousUpload(last)
    statusLine.textContent = 'Part of this file was sent before: going on from where it stopped…'
  }
  current.start()
}

/** Drops the request in flight (if any) and asks the server where the upload stands. */
function resumeNow () {
  const current = upload
  if (current === null) return
  statusLine.textContent = 'Trying to reach Lectern…'
  void current.abort().then(() => { if (upload === current) current.start() })
}
resumeButton.addEventListener('click', resumeNow)
window.addEventListener('online', () => { if (paused) resumeNow() })
window.addEventListener('offline', () => { if (upload !== null && !paused) showPaused('this computer is offline.') })

/** Follows the transcode until the video is ready (or failed). */
function follow (video) {
  cancelButton.hidden = true
  resumeButton.hidden = true
  panel.dataset.state = 'sent'
  transcode.hidden = false
  const link = `/watch/${encodeURIComponent(video.id)}`
  let misses = 0
  const show = (v) => {
    if (v.status === 'ready') {
      transcodeBar.value = 100
      transcodeText.textContent = 'Done.'
      statusLine.textContent = `“${v.title}” is ready to watch.`
      watchLink.href = link
      watchLink.hidden = false
      againButton.hidden = false
      busy = false
      watchLink.focus()
      return true
    }
    if (v.status === 'failed') {
      fail(`Lectern could not prepare this video: ${v.failureReason ?? 'the file could not be read'}. The file may be damaged, or not a video.`)
      return true
    }
    if (v.status === 'processing') {
      const percent = Math.floor((v.progress ?? 0) * 100)
      transcodeBar.value = percent
      transcodeText.textContent = `${percent}%` + (typeof v.etaSeconds === 'number' ? ` · about ${spokenDuration(v.etaSeconds)} left` : '')
      if (v.playable) {
        // The first minutes are published while the rest transcodes.
        statusLine.textContent = 'Preparing the rest of the video. It can be watched already; you can leave this page, it carries on.'
        watchLink.href = link
        watchLink.hidden = false
      } else {
        statusLine.textContent = 'Preparing the video for streaming. You can leave this page; it carries on.'
      }
    } else {
      transcodeBar.removeAttribute('value')
      transcodeText.textContent = 'Waiting for the transcoder to start…'
      statusLine.textContent = 'Uploaded. Waiting for its turn to be prepared for streaming.'
    }
    return false
  }
  show(video)
  const poll = async () => {
    try {
      const v = await api(`/api/videos/${encodeURIComponent(video.id)}`)
      misses = 0
      if (show(v)) return
    } catch (err) {
      if (err.status === 401) { fail('You were signed out. Sign in again to see how the video is getting on; the upload itself is safe.'); return }
      if (err.status === 404) { fail('The video was deleted before it was ready.'); return }
      if (++misses >= 5) statusLine.textContent = 'Lectern is not answering right now; still trying…'
    }
    pollTimer = setTimeout(poll, 1000)
  }
  pollTimer = setTimeout(poll, 1000)
}

cancelButton.addEventListener('click', async () => {
  const current = upload
  if (current === null) return
  upload = null
  cancelButton.disabled = true
  // Terminates the upload on the server (DELETE): the part already sent is removed.
  const removed = await current.abort(true).then(() => true, () => false)
  cancelButton.disabled = false
  fail(removed
    ? 'Upload cancelled. Nothing was saved.'
    : 'Upload cancelled. Lectern could not be reached to remove the part already sent; it removes it by itself later.')
})
againButton.addEventListener('click', () => {
  clearTimeout(pollTimer)
  busy = false
  panel.hidden = true
  delete panel.dataset.state
  form.reset()
  captionLanguage.value = defaultCaptionLanguage()
  captionStatus.textContent = ''
  captionError.textContent = ''
  $('#file-info').textContent = ''
  const session = getSession()
  signedOut.hidden = session !== null
  form.hidden = session === null
  fileInput.focus()
  void showUnfinished()
})
// Leaving mid-upload pauses it (choosing the same file later goes on): still, say so.
window.addEventListener('beforeunload', (event) => { if (upload !== null) event.preventDefault() })

