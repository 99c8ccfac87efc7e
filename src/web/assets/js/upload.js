// Upload: send the file with XMLHttpRequest (for byte progress), then follow the transcode by
// polling the video until it is ready. Errors are said in terms a teacher can act on.
import { $ } from './dom.js'
import { api, accountForm, getSession, mountHeader, onSession, openSignIn, signOut } from './session.js'
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
const againButton = $('#again-button')

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

let xhr = null
let pollTimer = null

function fail (message) {
  uploadError.textContent = message
  statusLine.textContent = ''
  cancelButton.hidden = true
  againButton.hidden = false
  busy = false
}

/** The upload's answer, in words: what went wrong and what to do about it. */
function explain (status, body) {
  const message = body?.message ?? ''
  switch (status) {
    case 401:
      signOut()
      return 'You are signed out (your session may have expired). Sign in again, then upload the file again.'
    case 413: {
      // Lectern's answer names its limit; a proxy in front (nginx client_max_body_size) may not.
      const limit = /limit of (\d+) MB/.exec(message)?.[1]
      return `This file is too large for this server${limit === undefined ? '' : ` (the limit is ${limit} MB)`}. Ask your administrator to raise the limit (UPLOAD_MAX_MB), or shorten or compress the video.`
    }
    case 415:
      return 'This file is not a video Lectern can read. Choose a video file, for example MP4, MOV, MKV or WebM.'
    case 400:
      return `The upload was refused: ${message}`
    default:
      return status >= 500
        ? `The server could not store the file (error ${status}). Try again in a few minutes; if it keeps failing, tell your administrator.`
        : `The upload was refused (error ${status}): ${message}`
  }
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
  const session = getSession()
  if (session === null) { openSignIn(); return }
  start(file, title, session)
})

function start (file, title, session) {
  busy = true
  const data = new FormData()
  // Fields before the file, so the server checks them before receiving the bytes.
  data.append('title', title)
  data.append('description', $('#description').value)
  data.append('tags', $('#tags').value)
  data.append('visibility', form.querySelector('input[name="visibility"]:checked')?.value ?? 'public')
  data.append('file', file, file.name)

  form.hidden = true
  panel.hidden = false
  $('#progress-title').textContent = `Uploading “${title}”`
  sendBar.value = 0
  sendText.textContent = `0% of ${formatBytes(file.size)}`
  transcode.hidden = true
  watchLink.hidden = true
  againButton.hidden = true
  cancelButton.hidden = false
  uploadError.textContent = ''
  statusLine.textContent = 'Sending the file…'

  const started = performance.now()
  const samples = [] // [time, bytes] over the last few seconds, for a steady speed
  const request = new XMLHttpRequest()
  xhr = request
  xhr.open('POST', '/api/videos')
  xhr.setRequestHeader('authorization', `Bearer ${session.token}`)
  xhr.setRequestHeader('accept', 'application/json')
  xhr.responseType = 'json'
  xhr.upload.addEventListener('progress', (e) => {
    if (!e.lengthComputable) return
    const now = performance.now()
    samples.push([now, e.loaded])
    while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift()
    const [t0, b0] = samples[0]
    const elapsed = (now - (samples.length > 1 ? t0 : started)) / 1000
    const speed = elapsed > 0 ? (e.loaded - (samples.length > 1 ? b0 : 0)) / elapsed : 0
    const percent = Math.floor((e.loaded / e.total) * 100)
    sendBar.value = percent
    const left = speed > 0 ? (e.total - e.loaded) / speed : null
    sendText.textContent = `${percent}% · ${formatBytes(e.loaded)} of ${formatBytes(e.total)}` +
      (speed > 0 ? ` · ${formatRate(speed)}` : '') +
      (left !== null && e.loaded < e.total ? ` · about ${spokenDuration(left)} left` : '')
  })
  xhr.upload.addEventListener('load', () => {
    sendBar.value = 100
    statusLine.textContent = 'File sent. Lectern is checking it…'
  })
  xhr.addEventListener('load', () => {
    const body = request.response
    xhr = null
    if (request.status === 202 && typeof body?.id === 'string') {
      sendBar.value = 100
      sendText.textContent = `100% · ${formatBytes(file.size)} sent in ${spokenDuration((performance.now() - started) / 1000)}`
      follow(body)
    } else {
      fail(explain(request.status, body))
    }
  })
  xhr.addEventListener('error', () => {
    xhr = null
    fail('The connection to Lectern was lost while sending the file. Check your network, then try again.')
  })
  xhr.addEventListener('abort', () => {
    xhr = null
    fail('Upload cancelled. Nothing was saved.')
  })
  xhr.send(data)
}

/** Follows the transcode until the video is ready (or failed). */
function follow (video) {
  cancelButton.hidden = true
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
      statusLine.textContent = 'Preparing the video for streaming. You can leave this page; it carries on.'
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

cancelButton.addEventListener('click', () => { xhr?.abort() })
againButton.addEventListener('click', () => {
  clearTimeout(pollTimer)
  busy = false
  panel.hidden = true
  form.reset()
  $('#file-info').textContent = ''
  const session = getSession()
  signedOut.hidden = session !== null
  form.hidden = session === null
  fileInput.focus()
})
// Leaving mid-upload loses it: say so.
window.addEventListener('beforeunload', (event) => { if (xhr !== null) event.preventDefault() })

