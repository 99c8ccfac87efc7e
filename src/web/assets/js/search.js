// Search: results as you type (debounced prefix search), tag chips to filter, more on demand.
import { h, $ } from './dom.js'
import { api, mountHeader } from './session.js'
import { videoCard } from './video-card.js'
import { formatDuration } from './format.js'
import { markedText } from './marked-text.js'

mountHeader()

const input = $('#q')
const results = $('#results')
const status = $('#search-status')
const more = $('#search-more')
const chips = $('#chips')
const tagFilter = $('#tag-filter')

const params = new URLSearchParams(location.search)
input.value = params.get('q') ?? ''
const selected = new Set((params.get('tags') ?? '').split(',').map((t) => t.trim()).filter((t) => t !== ''))
const seenTags = new Map() // lower-cased tag -> spelling, from the results so far
let cursor = null
let controller = null
let timer

function queryString (withCursor) {
  const p = new URLSearchParams()
  if (input.value.trim() !== '') p.set('q', input.value)
  if (selected.size > 0) p.set('tags', [...selected].join(','))
  if (withCursor && cursor !== null) p.set('cursor', cursor)
  return p
}

function renderChips () {
  for (const tag of selected) if (!seenTags.has(tag.toLowerCase())) seenTags.set(tag.toLowerCase(), tag)
  chips.replaceChildren(...[...seenTags.values()].sort((a, b) => a.localeCompare(b)).slice(0, 30).map((tag) => {
    const on = selected.has(tag)
    return h('li', {}, h('button', {
      type: 'button',
      class: 'chip',
      'aria-pressed': on ? 'true' : 'false',
      onclick: () => { if (on) selected.delete(tag); else selected.add(tag); run() },
      text: tag
    }))
  }))
  tagFilter.hidden = seenTags.size === 0
}

async function run (append = false) {
  controller?.abort()
  controller = new AbortController()
  if (!append) {
    cursor = null
    history.replaceState(null, '', `/search${queryString(false).size > 0 ? `?${queryString(false)}` : ''}`)
  }
  const words = input.value.trim()
  status.textContent = 'Searching…'
  try {
    const p = queryString(append)
    p.set('limit', '12')
    const page = await api(`/api/search?${p}`, { signal: controller.signal })
    if (!append) {
      results.replaceChildren()
      seenTags.clear()
    }
    for (const item of page.items) {
      const { card } = videoCard(item, { snippet: true })
      // Where the words are said: each moment opens the video there.
      if (Array.isArray(item.moments) && item.moments.length > 0) {
        card.append(h('ul', { class: 'moments', 'aria-label': `Moments in ${item.title}` }, ...item.moments.map((m) =>
          h('li', {}, h('a', { href: `/watch/${encodeURIComponent(item.id)}?t=${Math.floor(m.start)}` },
            h('time', { text: formatDuration(m.start) }), h('span', {}, ...markedText(m.text)))))))
      }
      results.append(card)
      for (const tag of item.tags) if (!seenTags.has(tag.toLowerCase())) seenTags.set(tag.toLowerCase(), tag)
    }
    cursor = page.nextCursor
    more.hidden = cursor === null
    renderChips()
    const count = results.children.length
    if (count === 0) {
      const filters = selected.size > 0 ? ` with the tag${selected.size > 1 ? 's' : ''} ${[...selected].join(', ')}` : ''
      status.replaceChildren(words === '' && selected.size === 0
        ? 'No public videos yet.'
        : `No videos match “${words}”${filters}. Try fewer or shorter words, check the spelling${selected.size > 0 ? ', or remove a tag filter' : ''}. Only public videos that are ready appear in search.`)
    } else {
      status.textContent = `${count}${cursor !== null ? '+' : ''} video${count === 1 ? '' : 's'}${words === '' ? ', newest first' : ` for “${words}”`}`
    }
  } catch (err) {
    if (err.name === 'AbortError') return
    status.textContent = `Search failed: ${err.message}`
  }
}

input.addEventListener('input', () => {
  clearTimeout(timer)
  timer = setTimeout(() => run(), 250)
})
$('#search-form').addEventListener('submit', (event) => {
  event.preventDefault()
  clearTimeout(timer)
  run()
})
more.addEventListener('click', () => run(true))
run()
