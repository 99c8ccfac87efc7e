// The lecture player: hls.js (or the browser's own HLS, as in Safari) behind accessible controls:
// play/pause, timeline, volume, full screen, speed, quality, keyboard shortcuts, and the position
// remembered per video.
import { $ } from './dom.js'
import { formatDuration, spokenDuration } from './format.js'

const SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2]
const positionKey = (id) => `lectern.position.${id}`
const store = {
  get (key) { try { return localStorage.getItem(key) } catch { return null } },
  set (key, value) { try { localStorage.setItem(key, value) } catch {} },
  remove (key) { try { localStorage.removeItem(key) } catch {} }
}

function loadScript (src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script')
    script.src = src
    script.addEventListener('load', resolve, { once: true })
    script.addEventListener('error', () => reject(new Error(`could not load ${src}`)), { once: true })
    document.head.append(script)
  })
}

/**
 * playback: the answer of GET /api/videos/:id/playback ({ hlsUrl, streamUrl, sid?, estimateBps? }).
 * Returns { destroy }.
 */
export async function createPlayer ({ videoId, playback, duration, hlsScript, startAt = null }) {
  const root = $('#player')
  const video = $('#video')
  const status = $('#player-status')
  const play = $('#play')
  const seek = $('#seek')
  const time = $('#time')
  const mute = $('#mute')
  const volume = $('#volume')
  const speed = $('#speed')
  const quality = $('#quality')
  const fullscreen = $('#fullscreen')
  const resume = $('#resume')
  const errors = []
  let hls = null
  let total = typeof duration === 'number' ? duration : 0

  const showError = (message) => {
    errors.push(message)
    root.dataset.error = message
    status.classList.add('error')
    status.textContent = message
  }
  const clearStatus = () => { if (!status.classList.contains('error')) status.textContent = '' }

  // Where to start: a link's ?t= first, then where this browser left off.
  const saved = Number(store.get(positionKey(videoId)))
  let start = null
  if (startAt !== null && startAt > 0) start = startAt
  else if (Number.isFinite(saved) && saved > 1 && (total === 0 || saved < total - 2)) {
    start = saved
    $('#resume-text').textContent = `Resumed where you left off, at ${formatDuration(saved)}.`
    resume.hidden = false
  }
  $('#restart').addEventListener('click', () => {
    video.currentTime = 0
    store.remove(positionKey(videoId))
    resume.hidden = true
    play.focus()
  })

  // Preferences that follow the viewer from video to video.
  const savedSpeed = Number(store.get('lectern.speed'))
  const rate = SPEEDS.includes(savedSpeed) ? savedSpeed : 1
  video.defaultPlaybackRate = rate
  video.playbackRate = rate
  const savedVolume = Number(store.get('lectern.volume') ?? 1)
  video.volume = Number.isFinite(savedVolume) ? Math.min(1, Math.max(0, savedVolume)) : 1
  video.muted = store.get('lectern.muted') === '1'

  const hasMse = 'MediaSource' in window || 'ManagedMediaSource' in window
  if (hasMse) {
    try { await loadScript(hlsScript) } catch (err) { showError(`The player could not be loaded (${err.message}). Reload the page to try again.`) }
  }
  const Hls = window.Hls
  if (Hls !== undefined && Hls.isSupported()) {
    const config = {
      // From the start (or where the viewer left off), also while a playlist still grows: a
      // video published as it transcodes is a recording, not a live event to join at its edge.
      startPosition: start ?? 0,
      capLevelToPlayerSize: true,
      // Captions come as <track> elements (captions.js), the same with hls.js, Safari and the MP4.
      enableWebVTT: false,
      // The server's estimate for this viewer's network, so the first segment is the right size.
      ...(typeof playback.estimateBps === 'number' ? { abrEwmaDefaultEstimate: playback.estimateBps } : {}),
      // CMCD in headers rather than the query: segment URLs stay the same for every viewer, so
      // shared caches and the server's in-memory fast path still recognise them (same origin: no preflight).
      ...(typeof playback.sid === 'string' && playback.sid !== '' ? { cmcd: { sessionId: playback.sid, useHeaders: true } } : {})
    }
    hls = new Hls(config)
    let recoveries = 0
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && recoveries < 3) {
        recoveries++
        status.textContent = 'The connection dropped; trying again…'
        setTimeout(() => hls?.startLoad(), 1000 * recoveries)
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries < 3) {
        recoveries++
        hls.recoverMediaError()
      } else {
        showError(data.type === Hls.ErrorTypes.NETWORK_ERROR
          ? 'The video stopped loading: Lectern could not be reached. Check your connection, then reload the page.'
          : `This video could not be played (${data.details}). Try the download link below instead.`)
      }
    })
    hls.on(Hls.Events.FRAG_LOADED, () => { recoveries = 0 })
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => fillQuality(data.levels))
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => showLevel(data.level))
    hls.loadSource(playback.hlsUrl)
    hls.attachMedia(video)
  } else if (video.canPlayType('application/vnd.apple.mpegurl') !== '') {
    // Safari plays HLS itself and picks the rendition on its own.
    video.src = playback.hlsUrl
    quality.replaceChildren(new Option('Auto (chosen by the browser)', '-1'))
    quality.disabled = true
    if (start !== null) video.addEventListener('loadedmetadata', () => { video.currentTime = start }, { once: true })
  } else {
    video.src = playback.streamUrl
    quality.replaceChildren(new Option('Single quality', '-1'))
    quality.disabled = true
    if (start !== null) video.addEventListener('loadedmetadata', () => { video.currentTime = start }, { once: true })
  }

  function levelName (level) {
    return level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kb/s`
  }
  function fillQuality (levels) {
    const options = [new Option('Auto', '-1')]
    levels.map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
      .forEach(({ level, index }) => options.push(new Option(`${levelName(level)} · ${(level.bitrate / 1e6).toFixed(1)} Mb/s`, String(index))))
    quality.replaceChildren(...options)
    quality.value = '-1'
  }
  function showLevel (index) {
    const level = hls?.levels[index]
    if (level === undefined) return
    root.dataset.level = levelName(level)
    const auto = quality.querySelector('option[value="-1"]')
    if (auto !== null) auto.textContent = hls.autoLevelEnabled ? `Auto (${levelName(level)})` : 'Auto'
    quality.title = `Playing ${levelName(level)}`
  }
  quality.addEventListener('change', () => {
    if (hls === null) return
    const index = Number(quality.value)
    if (index === -1) {
      // Back to automatic choice from the next segment, without dropping what is buffered.
      hls.loadLevel = -1
    } else {
      // A chosen quality shows at once: drop the buffer of the old one.
      hls.currentLevel = index
    }
    const current = hls.levels[hls.currentLevel]
    const auto = quality.querySelector('option[value="-1"]')
    if (auto !== null) auto.textContent = index === -1 && current !== undefined ? `Auto (${levelName(current)})` : 'Auto'
  })

  video.addEventListener('error', () => {
    if (hls === null) showError('This video could not be played in this browser. Try the download link below instead.')
  })

  // Play / pause
  const togglePlay = () => { if (video.paused || video.ended) video.play().catch(() => {}); else video.pause() }
  play.addEventListener('click', togglePlay)
  video.addEventListener('click', togglePlay)
  const syncPlay = () => { play.textContent = video.paused || video.ended ? 'Play' : 'Pause' }
  video.addEventListener('play', syncPlay)
  video.addEventListener('pause', syncPlay)
  video.addEventListener('ended', syncPlay)
  video.addEventListener('waiting', () => { if (!status.classList.contains('error')) status.textContent = 'Loading…' })
  video.addEventListener('playing', clearStatus)

  // Timeline
  let dragging = false
  const syncTime = () => {
    if (Number.isFinite(video.duration) && video.duration > 0) total = video.duration
    seek.max = String(total)
    if (!dragging) seek.value = String(video.currentTime)
    time.textContent = `${formatDuration(video.currentTime)} / ${formatDuration(total)}`
    seek.setAttribute('aria-valuetext', `${spokenDuration(video.currentTime)} of ${spokenDuration(total)}`)
  }
  syncTime()
  video.addEventListener('timeupdate', syncTime)
  video.addEventListener('durationchange', syncTime)
  video.addEventListener('loadedmetadata', syncTime)
  seek.addEventListener('input', () => { dragging = true; video.currentTime = Number(seek.value); syncTime() })
  seek.addEventListener('change', () => { dragging = false })
  const skip = (seconds) => { video.currentTime = Math.min(Math.max(0, video.currentTime + seconds), total || video.duration || 0) }

  // Volume
  const syncVolume = () => {
    mute.textContent = video.muted || video.volume === 0 ? 'Unmute' : 'Mute'
    volume.value = String(video.muted ? 0 : video.volume)
    volume.setAttribute('aria-valuetext', `${Math.round((video.muted ? 0 : video.volume) * 100)}%`)
    store.set('lectern.volume', String(video.volume))
    store.set('lectern.muted', video.muted ? '1' : '0')
  }
  syncVolume()
  video.addEventListener('volumechange', syncVolume)
  mute.addEventListener('click', () => { video.muted = !video.muted })
  volume.addEventListener('input', () => { video.volume = Number(volume.value); video.muted = video.volume === 0 })
  const nudgeVolume = (delta) => { video.muted = false; video.volume = Math.min(1, Math.max(0, Math.round((video.volume + delta) * 100) / 100)) }

  // Speed
  speed.value = String(rate)
  speed.addEventListener('change', () => { video.playbackRate = Number(speed.value) })
  video.addEventListener('ratechange', () => {
    speed.value = String(video.playbackRate)
    video.defaultPlaybackRate = video.playbackRate
    store.set('lectern.speed', String(video.playbackRate))
  })
  const stepSpeed = (direction) => {
    const i = SPEEDS.indexOf(video.playbackRate)
    const next = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (i === -1 ? 1 : i) + direction))]
    video.playbackRate = next
    status.textContent = `Speed ${next}x`
  }

  // Full screen: the player box, so the controls come along.
  const toggleFullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {})
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => {})
    else video.webkitEnterFullscreen?.()
  }
  fullscreen.addEventListener('click', toggleFullscreen)
  document.addEventListener('fullscreenchange', () => {
    fullscreen.textContent = document.fullscreenElement ? 'Exit full screen' : 'Full screen'
  })

  // Keyboard shortcuts, except while typing in a field or using a control that needs the key.
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return
    const target = event.target
    const tag = target?.tagName
    if (tag === 'TEXTAREA' || tag === 'SELECT' || target?.isContentEditable) return
    if (tag === 'INPUT' && target.type !== 'range') return
    if (tag === 'INPUT' && ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(event.key)) return
    if ((tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY') && (event.key === ' ' || event.key === 'Enter')) return
    if (target?.closest?.('dialog')) return
    switch (event.key) {
      case ' ': case 'k': togglePlay(); break
      case 'ArrowLeft': skip(-5); break
      case 'ArrowRight': skip(5); break
      case 'ArrowUp': nudgeVolume(0.1); break
      case 'ArrowDown': nudgeVolume(-0.1); break
      case 'f': toggleFullscreen(); break
      case 'm': video.muted = !video.muted; break
      case '<': stepSpeed(-1); break
      case '>': stepSpeed(1); break
      default: return
    }
    event.preventDefault()
  }
  document.addEventListener('keydown', onKey)

  // Remember the position, about once a second and whenever playback stops.
  let lastSaved = 0
  const savePosition = () => {
    const t = video.currentTime
    if (t > 1 && !video.ended) store.set(positionKey(videoId), t.toFixed(1))
  }
  video.addEventListener('timeupdate', () => {
    if (Date.now() - lastSaved > 1000) { lastSaved = Date.now(); savePosition() }
  })
  video.addEventListener('pause', savePosition)
  video.addEventListener('seeked', savePosition)
  video.addEventListener('ended', () => store.remove(positionKey(videoId)))
  window.addEventListener('pagehide', savePosition)

  return {
    video,
    errors,
    destroy () {
      savePosition()
      document.removeEventListener('keydown', onKey)
      hls?.destroy()
    }
  }
}
