// Captions on the watch page: the captions menu (off or a language, remembered), the transcript
// beside the player (current cue highlighted, click to seek, search within it), and the owner's
// caption upload.
import { h, $ } from './dom.js'
import { api } from './session.js'
import { captionProblem, defaultCaptionLanguage, sendCaptions } from './caption-file.js'
import { formatDuration } from './format.js'
import { markedText } from './marked-text.js'

const PREFERENCE = 'lectern.captions'
const store = {
  get () { try { return localStorage.getItem(PREFERENCE) } catch { return null } },
  set (value) { try { localStorage.setItem(PREFERENCE, value) } catch {} }
}

/** Shows the captions menu and transcript of a playing video; returns { destroy }. */
export async function mountCaptions ({ videoId, playback, visibility }) {
  const media = $('#video')
  const query = visibility === 'public' || typeof playback.token !== 'string' ? '' : `token=${encodeURIComponent(playback.token)}`
  let tracks
  try {
    tracks = (await api(`/api/videos/${videoId}/captions${query === '' ? '' : `?${query}`}`)).items
  } catch {
    return { destroy () {} }
  }
  if (tracks.length === 0) return { destroy () {} }

  // Captions menu: one <track> per language, shown by the browser over the video.
  const select = $('#captions')
  const elements = tracks.map((track) => {
    const el = h('track', { kind: 'captions', srclang: track.language, label: track.label, src: track.url + (query === '' ? '' : `?${query}`) })
    media.append(el)
    return { track, el }
  })
  select.replaceChildren(new Option('Off', 'off'), ...tracks.map((t) => new Option(t.label, t.language)))
  const apply = (language) => {
    for (const { track, el } of elements) el.track.mode = track.language === language ? 'showing' : 'disabled'
  }
  const wanted = store.get()
  const initial = tracks.some((t) => t.language === wanted) ? wanted : 'off'
  select.value = initial
  apply(initial)
  select.addEventListener('change', () => { apply(select.value); store.set(select.value) })
  $('#captions-group').hidden = false

  // Transcript of the language shown (the first one while captions are off).
  const panel = $('#transcript')
  const list = $('#transcript-cues')
  const status = $('#transcript-status')
  let rows = []
  const seekTo = (start) => { media.currentTime = start; if (media.paused) media.play().catch(() => {}) }
  const row = (cue, text) => h('li', { 'data-start': cue.start, 'data-end': cue.end },
    h('button', { type: 'button', class: 'cue', onclick: () => seekTo(cue.start) },
      h('time', { text: formatDuration(cue.start) }), ' ', h('span', {}, text)))
  async function show (q = '') {
    const language = select.value === 'off' ? tracks[0].language : select.value
    const params = new URLSearchParams({ language })
    if (q.trim() !== '') params.set('q', q)
    if (query !== '') params.set('token', playback.token)
    try {
      const transcript = await api(`/api/videos/${videoId}/transcript?${params}`)
      rows = transcript.cues.map((cue) => ({ cue, el: row(cue, cue.marked === null ? cue.text : markedText(cue.marked)) }))
      list.replaceChildren(...rows.map((r) => r.el))
      status.textContent = q.trim() === '' ? '' : `${rows.length} ${rows.length === 1 ? 'moment' : 'moments'} for “${q.trim()}”`
      highlight()
    } catch (err) {
      status.textContent = `The transcript could not be loaded: ${err.message}`
    }
  }
  let current = null
  function highlight () {
    const t = media.currentTime
    const now = rows.find((r) => t >= r.cue.start && t < r.cue.end) ?? null
    if (now === current) return
    current?.el.classList.remove('current')
    current?.el.removeAttribute('aria-current')
    current = now
    if (now !== null) {
      now.el.classList.add('current')
      now.el.setAttribute('aria-current', 'true')
      // Keep the line in view inside the panel without moving the page.
      const top = now.el.offsetTop - list.offsetTop
      if (top < list.scrollTop || top > list.scrollTop + list.clientHeight - now.el.offsetHeight) list.scrollTop = top - list.clientHeight / 3
    }
  }
  media.addEventListener('timeupdate', highlight)
  let timer
  $('#transcript-q').addEventListener('input', (event) => {
    clearTimeout(timer)
    timer = setTimeout(() => show(event.target.value), 250)
  })
  $('#transcript-search').addEventListener('submit', (event) => { event.preventDefault(); show($('#transcript-q').value) })
  select.addEventListener('change', () => show($('#transcript-q').value))
  panel.hidden = false
  await show()
  return { destroy () { media.removeEventListener('timeupdate', highlight) } }
}

/** The owner's caption list and upload form. */
export function mountCaptionUpload ({ videoId }) {
  const form = $('#captions-form')
  const status = $('#caption-status')
  const list = $('#caption-list')
  async function refresh () {
    try {
      const { items } = await api(`/api/videos/${videoId}/captions`)
      list.replaceChildren(...items.map((t) => h('li', {},
        `${t.label} (${t.language}, ${t.cues} ${t.cues === 1 ? 'cue' : 'cues'}) `,
        h('button', {
          type: 'button',
          class: 'link',
          onclick: async () => {
            error.textContent = ''
            try { await api(`/api/videos/${videoId}/captions/${encodeURIComponent(t.language)}`, { method: 'DELETE' }); status.textContent = `${t.label} captions deleted.`; refresh() } catch (err) { error.textContent = `Not deleted: ${err.message}` }
          },
          text: `Delete ${t.label} captions`
        }))))
    } catch {}
  }
  const fileInput = $('#caption-file')
  const languageInput = $('#caption-language')
  const error = $('#caption-error')
  languageInput.value = defaultCaptionLanguage()
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    status.textContent = ''
    error.textContent = ''
    for (const input of [fileInput, languageInput]) input.removeAttribute('aria-invalid')
    const file = fileInput.files[0]
    const language = languageInput.value.trim()
    const problem = captionProblem(file, language)
    if (problem !== null) {
      const input = problem.field === 'file' ? fileInput : languageInput
      input.setAttribute('aria-invalid', 'true')
      error.textContent = problem.message
      input.focus()
      return
    }
    status.textContent = 'Uploading…'
    try {
      const track = await sendCaptions(videoId, { file, language, label: $('#caption-label').value.trim() })
      status.textContent = `${track.label} captions saved (${track.cues} ${track.cues === 1 ? 'line' : 'lines'}). Reload the page to see them in the player.`
      form.reset()
      languageInput.value = defaultCaptionLanguage()
      refresh()
    } catch (err) {
      status.textContent = ''
      error.textContent = `Not saved: ${err.message}`
    }
  })
  refresh()
}
