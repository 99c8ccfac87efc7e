import type { CaptionCue } from './caption-cue.js'
import { vttTimestamp, writeWebVtt } from './write-webvtt.js'

/** The name of subtitle segment i: segment-00000.vtt. */
export const subtitleSegmentName = (i: number): string => `segment-${String(i).padStart(5, '0')}.vtt`
export const SUBTITLE_SEGMENT_NAME = /^segment-(\d{5,})\.vtt$/

/** How many subtitle segments of segmentSeconds cover duration seconds (at least one). */
export function subtitleSegmentCount (duration: number, segmentSeconds: number): number {
  return Math.max(1, Math.ceil(duration / segmentSeconds - 1e-9))
}

/** A VOD subtitle media playlist: segments of segmentSeconds covering duration. Pure. */
export function subtitlePlaylist (duration: number, segmentSeconds: number): string {
  const count = subtitleSegmentCount(duration, segmentSeconds)
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${Math.ceil(segmentSeconds)}`, '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD']
  for (let i = 0; i < count; i++) {
    const length = Math.min(segmentSeconds, duration - i * segmentSeconds)
    lines.push(`#EXTINF:${Math.max(0.001, length).toFixed(3)},`, subtitleSegmentName(i))
  }
  lines.push('#EXT-X-ENDLIST')
  return lines.join('\n') + '\n'
}

/**
 * Subtitle segment i: every cue that overlaps its time span, on the MPEG-TS timeline. The media's
 * first PTS (`mpegts`, 90 kHz) is media time 0, so each cue is written at its media time plus
 * that start (to the millisecond), and the X-TIMESTAMP-MAP maps local time L to MPEG-TS L x 90000
 * exactly. hls.js and Safari apply the map and land where they did with LOCAL 0; ffmpeg 5.1's HLS
 * demuxer ignores the map and takes the cue times as they are, which is then also right. A cue
 * spanning a boundary appears in both segments (hls.js drops the repeat). Pure.
 */
export function subtitleSegment (cues: readonly CaptionCue[], i: number, segmentSeconds: number, mpegts: number): string {
  const from = i * segmentSeconds
  const to = from + segmentSeconds
  const startMs = Math.round(mpegts / 90)
  const shift = startMs / 1000
  const inside = cues.filter((c) => c.start < to && c.end > from).map((c) => ({ ...c, start: c.start + shift, end: c.end + shift }))
  return writeWebVtt(inside, { header: [`X-TIMESTAMP-MAP=MPEGTS:${startMs * 90},LOCAL:${vttTimestamp(shift)}`] })
}

export interface SubtitleRendition {
  language: string
  label: string
  /** relative to the master playlist */
  uri: string
}

/** The master playlist's group of subtitle renditions, as named on every variant. */
export const SUBTITLE_GROUP = 'subs'

const quoted = (s: string): string => s.replace(/["\r\n]/g, ' ')

/**
 * The master playlist with an EXT-X-MEDIA:TYPE=SUBTITLES rendition per caption track (before the
 * first variant) and SUBTITLES="subs" on every variant; unchanged when there are none. Pure.
 */
export function addSubtitleGroup (master: string, tracks: readonly SubtitleRendition[]): string {
  if (tracks.length === 0) return master
  const lines = master.split('\n')
  const first = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'))
  if (first === -1) return master
  // The playlist's own line endings, CRLF included.
  const cr = lines[first]!.endsWith('\r') ? '\r' : ''
  const names = new Set<string>()
  const media = tracks.map((t) => {
    // NAME must be unique within the group.
    let name = quoted(t.label)
    if (names.has(name)) name = `${name} (${t.language})`
    names.add(name)
    return `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="${SUBTITLE_GROUP}",NAME="${name}",LANGUAGE="${quoted(t.language)}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="${quoted(t.uri)}"` + cr
  })
  const out = lines.map((l) => l.startsWith('#EXT-X-STREAM-INF:') && !/[:,]SUBTITLES=/.test(l) ? l.replace(/\r?$/, (end) => `,SUBTITLES="${SUBTITLE_GROUP}"${end}`) : l)
  out.splice(first, 0, ...media)
  return out.join('\n')
}

/** A video's caption tracks as the subtitle renditions of its master playlist (/hls/<id>/subtitles/<language>/index.m3u8). */
export function subtitleRenditions (video: { captions?: ReadonlyArray<{ language: string, label: string }> }): SubtitleRendition[] {
  return (video.captions ?? []).map((c) => ({ language: c.language, label: c.label, uri: `subtitles/${encodeURIComponent(c.language)}/index.m3u8` }))
}
