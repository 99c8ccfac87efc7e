// Home: the latest public videos, and the account panel (sign in / register, or shortcuts).
import { h, $ } from './dom.js'
import { api, accountForm, mountHeader, onSession } from './session.js'
import { videoCard } from './video-card.js'

mountHeader()

const list = $('#latest')
const status = $('#latest-status')
const more = $('#latest-more')
let cursor = null

async function load () {
  more.disabled = true
  try {
    const params = new URLSearchParams({ limit: '12' })
    if (cursor !== null) params.set('cursor', cursor)
    // Search with no words lists public, ready videos newest first.
    const page = await api(`/api/search?${params}`)
    for (const item of page.items) {
      const { card, setViews } = videoCard(item)
      list.append(card)
      // Search results carry no view counts; each card asks for its own.
      api(`/api/videos/${encodeURIComponent(item.id)}`).then((v) => setViews(v.views), () => {})
    }
    cursor = page.nextCursor
    more.hidden = cursor === null
    if (list.children.length === 0) {
      status.replaceChildren('No public videos yet. ', h('a', { href: '/upload', text: 'Upload the first lecture' }), '.')
    } else {
      status.textContent = ''
    }
  } catch (err) {
    status.textContent = `The videos could not be loaded: ${err.message}`
  } finally {
    more.disabled = false
  }
}

more.addEventListener('click', load)
load()

const panel = $('#account-panel')
onSession((session) => {
  panel.replaceChildren()
  if (session === null) {
    panel.append(accountForm({ headingLevel: 'h2' }))
  } else {
    panel.append(
      h('h2', { text: `Welcome, ${session.user.name || session.user.email}` }),
      h('ul', {},
        session.user.role !== 'student' && h('li', {}, h('a', { href: '/upload', text: 'Upload a lecture' })),
        h('li', {}, h('a', { href: '/me', text: 'My videos' })),
        h('li', {}, h('a', { href: '/search', text: 'Search all lectures' }))))
  }
})
