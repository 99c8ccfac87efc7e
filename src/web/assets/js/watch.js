// Watch: the video's details, the player, and the owner's edit and delete.
import { h, $ } from './dom.js'
import { api, getSession, mountHeader, onSession, openSignIn } from './session.js'
import { formatAge, formatDuration, formatViews, spokenDuration } from './format.js'
import { createPlayer } from './player.js'
import { mountCaptions, mountCaptionUpload } from './captions.js'

mountHeader()

const id = decodeURIComponent(location.pathname.split('/')[2] ?? '')
const article = $('#watch')
const message = $('#watch-message')
let player = null
let video = null
// Asked for at once, beside the video's details, rather than after them.
const configPromise = fetch('/assets/config.json').then((r) => r.json())

function say (title, text, actions = []) {
  article.hidden = true
  message.hidden = false
  $('#message-title').textContent = title
  $('#message-text').textContent = text
  $('#message-actions').replaceChildren(...actions)
  document.title = `${title} · Lectern`
}

function notAvailable () {
  const signedIn = getSession() !== null
  say('Video not available',
    `This video does not exist, or it is private and ${signedIn ? 'your account may not watch it' : 'you are not signed in'}. ` +
    'If you were given this link, ask its owner to share it as unlisted or public' + (signedIn ? '.' : ', or sign in if it is yours.'),
    [
      signedIn ? null : h('button', { type: 'button', onclick: openSignIn, text: 'Sign in' }),
      h('a', { href: '/', class: 'button secondary', text: 'Back to the home page' })
    ].filter(Boolean))
}

function isOwner (v) {
  const user = getSession()?.user
  return user !== undefined && (user.id === v.owner || user.role === 'admin')
}

function renderDetails (v) {
  document.title = `${v.title} · Lectern`
  $('#title').textContent = v.title
  $('#meta').replaceChildren(
    formatViews(v.views), ' · ',
    h('time', { datetime: v.createdAt, text: `uploaded ${formatAge(v.createdAt)}` }),
    v.duration === null ? '' : ` · ${formatDuration(v.duration)}`,
    v.visibility === 'public' ? '' : ` · ${v.visibility}`)
  $('#tags').replaceChildren(...v.tags.map((tag) => h('li', {}, h('a', { href: `/search?tags=${encodeURIComponent(tag)}`, text: tag }))))
  $('#tags').hidden = v.tags.length === 0
  $('#description').textContent = v.description
  const owner = isOwner(v)
  $('#owner-tools').hidden = !owner
  if (owner) {
    if (!renderDetails.captions) { renderDetails.captions = true; mountCaptionUpload({ videoId: id }) }
    $('#edit-title').value = v.title
    $('#edit-description').value = v.description
    $('#edit-tags').value = v.tags.join(', ')
    $('#edit-visibility').value = v.visibility
    if (location.hash === '#owner-tools' && !renderDetails.scrolled) {
      renderDetails.scrolled = true
      $('#owner-tools').scrollIntoView()
      $('#edit-title').focus()
    }
  }
}

async function load () {
  if (!/^[0-9a-f]{20}$/.test(id)) { notAvailable(); return }
  try {
    video = await api(`/api/videos/${id}`)
  } catch (err) {
    if (err.status === 404 || err.status === 403) notAvailable()
    else say('The video could not be loaded', err.message, [h('button', { type: 'button', onclick: () => location.reload(), text: 'Try again' })])
    return
  }
  message.hidden = true
  article.hidden = false
  renderDetails(video)
  if (video.status !== 'ready') {
    waitUntilReady()
    return
  }
  await startPlayer()
}

/** Whether the player was started before the video was ready (it plays while it transcodes). */
let startedEarly = false

async function startPlayer () {
  let playback
  try {
    playback = await api(`/api/videos/${id}/playback`)
  } catch (err) {
    $('#player-status').textContent = `This video cannot be played right now: ${err.message}`
    return
  }
  $('#download').href = playback.streamUrl
  $('#download').setAttribute('download', `${video.title.replace(/[\\/:*?"<>|]+/g, ' ').trim() || 'video'}.mp4`)
  const config = await configPromise
  const t = Number(new URLSearchParams(location.search).get('t'))
  player = await createPlayer({ videoId: id, playback, duration: video.duration, hlsScript: config.hlsScript, startAt: Number.isFinite(t) && t > 0 ? t : null })
  await mountCaptions({ videoId: id, playback, visibility: video.visibility })
}

/** The owner opened a video still being prepared: show how far along it is, then play. */
function waitUntilReady () {
  const status = $('#player-status')
  $('#player').querySelector('.controls').hidden = true
  $('#download').parentElement.hidden = true
  const tick = async () => {
    try {
      video = await api(`/api/videos/${id}`)
    } catch {
      setTimeout(tick, 3000)
      return
    }
    if (video.status === 'ready') {
      status.textContent = ''
      $('#player').querySelector('.controls').hidden = false
      $('#download').parentElement.hidden = false
      renderDetails(video)
      // A player started while the video transcoded keeps playing: its playlists just ended.
      if (!startedEarly) await startPlayer()
      return
    }
    if (video.playable && !startedEarly) {
      // The first minutes are published while the rest transcodes: play them now.
      startedEarly = true
      $('#player').querySelector('.controls').hidden = false
      await startPlayer()
    }
    if (video.status === 'failed') {
      status.classList.add('error')
      status.textContent = `This video could not be prepared: ${video.failureReason ?? 'unknown reason'}.`
      return
    }
    status.textContent = video.playable
      ? `Still being prepared (${Math.floor(video.progress * 100)}%): you can watch what is ready; the download comes when it is done.`
      : video.status === 'processing'
      ? `Being prepared for streaming: ${Math.floor(video.progress * 100)}%` + (typeof video.etaSeconds === 'number' ? `, about ${spokenDuration(video.etaSeconds)} left.` : '.')
      : 'Waiting to be prepared for streaming.'
    setTimeout(tick, 1500)
  }
  tick()
}

$('#edit-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const status = $('#edit-status')
  const title = $('#edit-title').value.trim()
  if (title === '') { status.textContent = 'The title cannot be empty.'; $('#edit-title').focus(); return }
  status.textContent = 'Saving…'
  try {
    video = await api(`/api/videos/${id}`, {
      method: 'PATCH',
      body: {
        title,
        description: $('#edit-description').value,
        tags: $('#edit-tags').value.split(',').map((t) => t.trim()).filter((t) => t !== ''),
        visibility: $('#edit-visibility').value
      }
    })
    renderDetails(video)
    status.textContent = 'Saved.'
  } catch (err) {
    status.textContent = `Not saved: ${err.message}`
  }
})

$('#delete-button').addEventListener('click', async () => {
  if (!window.confirm(`Delete “${video.title}” for good? Viewers will no longer be able to watch it.`)) return
  try {
    await api(`/api/videos/${id}`, { method: 'DELETE' })
    player?.destroy()
    localStorage.removeItem(`lectern.position.${id}`)
    say('Video deleted', `“${video.title}” was deleted.`, [h('a', { href: '/me', class: 'button', text: 'Back to my videos' })])
  } catch (err) {
    $('#edit-status').textContent = `Not deleted: ${err.message}`
  }
})

let first = true
onSession(() => {
  // Signing in or out changes what this page may show: start again.
  if (first) { first = false; return }
  location.reload()
})
load()
