// My videos: the caller's videos with status, progress, visibility, views, and actions.
import { h, $ } from './dom.js'
import { api, accountForm, mountHeader, onSession } from './session.js'
import { formatAge, formatViews, spokenDuration } from './format.js'

mountHeader()

const signedOut = $('#signed-out')
const mine = $('#mine')
const table = $('#video-table')
const rows = $('#video-rows')
const status = $('#me-status')
const more = $('#me-more')
let cursor = null
let refresh = null

signedOut.append(accountForm())

function statusCell (v) {
  if (v.status === 'processing') {
    const percent = Math.floor(v.progress * 100)
    return h('td', { 'data-label': 'Status' },
      h('span', { text: `Processing ${percent}%` }),
      typeof v.etaSeconds === 'number' ? h('span', { class: 'hint', text: ` (about ${spokenDuration(v.etaSeconds)} left)` }) : null,
      h('progress', { max: 100, value: percent, 'aria-label': `Processing ${v.title}` }))
  }
  if (v.status === 'uploaded' && v.retryAt) {
    // A failed attempt that will be tried again: say why, and when.
    const wait = (Date.parse(v.retryAt) - Date.now()) / 1000
    return h('td', { 'data-label': 'Status' },
      h('span', { class: 'status-retry', text: 'Will be retried' }),
      h('span', { class: 'hint', text: wait > 1 ? ` in about ${spokenDuration(wait)}` : ' shortly' }),
      v.failureReason ? h('span', { class: 'hint', text: `; the last attempt failed: ${v.failureReason}` }) : null)
  }
  const words = { uploaded: 'Waiting to be processed', ready: 'Ready', failed: 'Failed' }
  const queued = v.status === 'uploaded' && typeof v.queuePosition === 'number'
  return h('td', { 'data-label': 'Status' },
    h('span', { class: `status-${v.status}`, text: words[v.status] ?? v.status }),
    queued ? h('span', { class: 'hint', text: v.queuePosition === 1 ? ' (next in the queue)' : ` (number ${v.queuePosition} in the queue)` }) : null,
    v.status === 'failed' && v.failureReason ? h('span', { class: 'hint', text: `: ${v.failureReason}` }) : null)
}

function row (v) {
  const watch = `/watch/${encodeURIComponent(v.id)}`
  const remove = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${v.title}` })
  const tr = h('tr', { 'data-id': v.id },
    h('th', { scope: 'row' }, h('a', { href: watch, text: v.title })),
    statusCell(v),
    h('td', { 'data-label': 'Visibility', text: v.visibility }),
    h('td', { 'data-label': 'Views', text: formatViews(v.views) }),
    h('td', { 'data-label': 'Uploaded' }, h('time', { datetime: v.createdAt, text: formatAge(v.createdAt) })),
    h('td', { class: 'actions-cell' },
      h('a', { href: watch, class: 'button secondary', text: v.status === 'ready' ? 'Watch' : 'Open', 'aria-label': `${v.status === 'ready' ? 'Watch' : 'Open'} ${v.title}` }),
      h('a', { href: `${watch}#owner-tools`, class: 'button secondary', text: 'Edit', 'aria-label': `Edit ${v.title}` }),
      remove))
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete “${v.title}” for good?`)) return
    try {
      await api(`/api/videos/${encodeURIComponent(v.id)}`, { method: 'DELETE' })
      tr.remove()
      status.textContent = `“${v.title}” was deleted.`
      if (rows.children.length === 0) { table.hidden = true }
    } catch (err) {
      status.textContent = `“${v.title}” was not deleted: ${err.message}`
    }
  })
  return tr
}

async function load (append) {
  try {
    const p = new URLSearchParams({ limit: '20' })
    if (append && cursor !== null) p.set('cursor', cursor)
    const page = await api(`/api/videos?${p}`)
    if (!append) rows.replaceChildren()
    for (const v of page.items) rows.append(row(v))
    cursor = page.nextCursor
    more.hidden = cursor === null
    table.hidden = rows.children.length === 0
    if (rows.children.length === 0) {
      status.replaceChildren('You have not uploaded any videos yet. ', h('a', { href: '/upload', text: 'Upload your first lecture' }), '.')
    } else if (!append && status.textContent.startsWith('You have not')) {
      status.textContent = ''
    }
    // While something is being prepared, keep its progress current.
    clearTimeout(refresh)
    if (!append && page.items.some((v) => v.status === 'processing' || v.status === 'uploaded')) {
      refresh = setTimeout(() => load(false), 3000)
    }
  } catch (err) {
    if (err.status !== 401) status.textContent = `Your videos could not be loaded: ${err.message}`
  }
}

more.addEventListener('click', () => load(true))
onSession((session) => {
  signedOut.hidden = session !== null
  mine.hidden = session === null
  clearTimeout(refresh)
  if (session !== null) load(false)
})
