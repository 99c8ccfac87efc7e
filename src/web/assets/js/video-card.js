// A video as a card: poster, title, duration, views, age (and a snippet in search results).
import { h } from './dom.js'
import { formatAge, formatDuration, formatViews, spokenDuration } from './format.js'

export function videoCard (video, { snippet = false } = {}) {
  const duration = formatDuration(video.duration)
  const poster = h('img', { src: `/poster/${encodeURIComponent(video.id)}`, alt: '', loading: 'lazy', width: 320, height: 180 })
  // A video without a poster keeps the dark frame rather than a broken-image icon.
  poster.addEventListener('error', () => poster.remove(), { once: true })
  const views = h('span', { class: 'views', text: typeof video.views === 'number' ? ` · ${formatViews(video.views)}` : '' })
  const meta = h('p', { class: 'meta' },
    duration === '' ? null : h('span', { class: 'vh', text: `${spokenDuration(video.duration)}, ` }),
    h('time', { datetime: video.createdAt, text: formatAge(video.createdAt) }), views)
  const card = h('li', { class: 'card', 'data-id': video.id },
    h('a', { class: 'card-link', href: `/watch/${encodeURIComponent(video.id)}` },
      h('div', { class: 'thumb' }, poster,
        duration === '' ? null : h('span', { class: 'duration', 'aria-hidden': 'true', text: duration })),
      h('h2', { text: video.title })),
    meta,
    snippet && video.description ? h('p', { class: 'snippet', text: video.description }) : null)
  return { card, setViews: (n) => { views.textContent = ` · ${formatViews(n)}` } }
}
