// Numbers as people read them: durations, sizes, rates, ages.

export function formatDuration (seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return ''
  const s = Math.floor(seconds)
  const hours = Math.floor(s / 3600)
  const minutes = Math.floor((s % 3600) / 60)
  const secs = String(s % 60).padStart(2, '0')
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`
}

/** "1 minute 5 seconds": for screen readers (aria-valuetext) and time-left texts. */
export function spokenDuration (seconds) {
  const s = Math.max(0, Math.round(seconds))
  const hours = Math.floor(s / 3600)
  const minutes = Math.floor((s % 3600) / 60)
  const secs = s % 60
  const parts = []
  if (hours > 0) parts.push(`${hours} hour${hours === 1 ? '' : 's'}`)
  if (minutes > 0) parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`)
  if (secs > 0 || parts.length === 0) parts.push(`${secs} second${secs === 1 ? '' : 's'}`)
  return parts.join(' ')
}

export function formatBytes (bytes) {
  if (!Number.isFinite(bytes)) return ''
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let i = 0
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++ }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[i]}`
}

export const formatRate = (bytesPerSecond) => `${formatBytes(bytesPerSecond)}/s`

export function formatViews (views) {
  if (typeof views !== 'number') return ''
  return `${new Intl.NumberFormat('en').format(views)} view${views === 1 ? '' : 's'}`
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })
const STEPS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]]

export function formatAge (iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000
  if (!Number.isFinite(seconds)) return ''
  for (const [unit, size] of STEPS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit)
  }
  return 'just now'
}
