import type { CaptionCue } from './caption-cue.js'

/** A WebVTT timestamp, always with hours: 01:02:03.456. */
export function vttTimestamp (seconds: number): string {
  const ms = Math.round(seconds * 1000)
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor(ms / 60_000) % 60
  const s = Math.floor(ms / 1000) % 60
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`
}

export function writeCue (cue: CaptionCue): string {
  return (cue.id !== '' ? cue.id + '\n' : '') +
    `${vttTimestamp(cue.start)} --> ${vttTimestamp(cue.end)}${cue.settings !== '' ? ' ' + cue.settings : ''}\n${cue.text}\n\n`
}

/** A WebVTT file: the header lines (e.g. X-TIMESTAMP-MAP), the STYLE blocks, then the cues as given. */
export function writeWebVtt (cues: readonly CaptionCue[], options: { header?: string[], styles?: readonly string[] } = {}): string {
  let out = ['WEBVTT', ...(options.header ?? [])].join('\n') + '\n\n'
  for (const style of options.styles ?? []) out += `STYLE\n${style}\n\n`
  for (const cue of cues) out += writeCue(cue)
  return out
}
