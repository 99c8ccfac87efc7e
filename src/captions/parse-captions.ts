import webvtt, { type CueNode, type ParsedCue } from 'webvtt-parser'
import type { CaptionCue } from './caption-cue.js'

/** A caption file that cannot be used, with the 1-based line where the problem is. */
export class CaptionFormatError extends Error {
  readonly line: number
  constructor (line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

export interface ParsedCaptions {
  format: 'webvtt' | 'srt'
  cues: CaptionCue[]
  /** STYLE blocks of a WebVTT file, kept for display */
  styles: string[]
}

/**
 * The validator's findings that make a file unusable: a missing signature, and cue blocks whose
 * timing line is broken (the cue would be lost). Everything else it reports (cue text markup,
 * unknown settings, header lines, cues out of order) leaves a cue a browser shows, so it is let
 * through: cues are sorted here, and bad settings fall back to their defaults.
 */
const FATAL = new Set([
  'No valid signature. (File needs to start with "WEBVTT".)',
  'Cue identifier cannot be standalone.',
  'Cue identifier needs to be followed by timestamp.',
  'Cannot have timestamp in a comment.',
  'Cannot have timestamp in a style block.',
  'No timestamp found.',
  'Timestamp must start with a character in the range 0-9.',
  'No time unit separator found.',
  'Must be exactly two digits.',
  'No seconds found or minutes is greater than 59.',
  'No decimal separator (".") found.',
  'Milliseconds must be given in three digits.',
  'You cannot have more than 59 minutes.',
  'You cannot have more than 59 seconds.',
  "Timestamp not separated from '-->' by whitespace.",
  'No valid timestamp separator found.',
  "'-->' not separated from timestamp by whitespace.",
  'End timestamp is not greater than start timestamp.',
  'Timestamp must not have trailing characters.'
])

// The parser's default table maps "&amp" without its ";" and leaves the ";" behind as text.
const ENTITIES: Record<string, string> = {
  '&amp;': '&', '&lt;': '<', '&gt;': '>', '&lrm;': '\u200e', '&rlm;': '\u200f', '&nbsp;': '\u00a0', '&quot;': '"', '&apos;': "'"
}

const SRT_TIMING = /^\s*(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})(?:\s.*)?$/
const pad2 = (s: string): string => s.padStart(2, '0')

/** Decodes UTF-8 (a BOM is dropped); a byte sequence that is not UTF-8 is reported with its line. */
export function decodeCaptionText (bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    const decoder = new TextDecoder('utf-8', { fatal: true })
    let line = 1
    let from = 0
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue
      try {
        decoder.decode(bytes.subarray(from, i))
      } catch {
        throw new CaptionFormatError(line, 'is not UTF-8 text; save the file as UTF-8')
      }
      line++
      from = i + 1
    }
    throw new CaptionFormatError(1, 'is not UTF-8 text; save the file as UTF-8')
  }
}

/**
 * SRT as WebVTT, line for line (so the validator's line numbers are the SRT's): timing lines in
 * WebVTT's form, SRT's `<font>` and `{\an8}` markup dropped, and a bare `&` or `<` escaped.
 */
function srtAsWebVtt (lines: string[]): string[] {
  return lines.map((line) => {
    if (line.includes('-->')) {
      const m = SRT_TIMING.exec(line)
      if (m === null) return line
      return `${pad2(m[1]!)}:${pad2(m[2]!)}:${pad2(m[3]!)}.${m[4]!.padEnd(3, '0')} --> ${pad2(m[5]!)}:${pad2(m[6]!)}:${pad2(m[7]!)}.${m[8]!.padEnd(3, '0')}`
    }
    return line
      .replace(/<\/?font[^>]*>/gi, '')
      .replace(/\{\\[^}]*\}/g, '')
      .replace(/&(?![a-z]+;|#\d+;|#x[0-9a-f]+;)/gi, '&amp;')
      .replace(/<(?!\/?[ibu]>)/gi, '&lt;')
  })
}

const TIMING_EXAMPLE = '00:00:01.000 --> 00:00:04.000'

/** The validator's finding as a user can act on it. */
function fatalError (message: string, line: number, lines: string[]): CaptionFormatError {
  if (message === 'Cue identifier needs to be followed by timestamp.' || message === 'Cue identifier cannot be standalone.') {
    // The validator took the previous line for a cue identifier: when it looks like a time, it was a
    // timing line it could not read; otherwise the timing line after an identifier is missing.
    const previous = lines[line - 2] ?? ''
    if (/\d:\d/.test(previous) || previous.includes('->')) return new CaptionFormatError(line - 1, `is not a cue timing line such as "${TIMING_EXAMPLE}"`)
    return new CaptionFormatError(line, `a cue timing line such as "${TIMING_EXAMPLE}" must follow the cue identifier on line ${line - 1}`)
  }
  return new CaptionFormatError(Math.max(1, line), message)
}

function plainText (nodes: CueNode[]): string {
  let out = ''
  for (const node of nodes) {
    if (node.type === 'text') out += node.value
    else if (node.type === 'object') out += plainText(node.children)
  }
  return out
}

function settingsOf (cue: ParsedCue): string {
  const out: string[] = []
  if (cue.direction !== 'horizontal') out.push(`vertical:${cue.direction}`)
  if (cue.linePosition !== 'auto') out.push(`line:${cue.linePosition}${cue.snapToLines ? '' : '%'}${cue.lineAlign !== 'start' ? ',' + cue.lineAlign : ''}`)
  if (cue.textPosition !== 'auto') out.push(`position:${cue.textPosition}%${cue.positionAlign !== 'auto' ? ',' + cue.positionAlign : ''}`)
  if (cue.size !== 100) out.push(`size:${cue.size}%`)
  if (cue.alignment !== 'center') out.push(`align:${cue.alignment}`)
  return out.join(' ')
}

/**
 * Reads a caption file, WebVTT or SRT (told apart by content), UTF-8 with or without a BOM, any
 * line endings. Validation is the W3C's WebVTT validator (webvtt-parser); SRT goes through it
 * after a line-for-line conversion. Throws CaptionFormatError for a file that cannot be used.
 * Cues come out sorted by start time (then end); overlapping cues are kept.
 */
export function parseCaptions (bytes: Uint8Array): ParsedCaptions {
  let text = decodeCaptionText(bytes)
  if (text.startsWith('\ufeff')) text = text.slice(1)
  const lines = text.split(/\r\n|\r|\n/)
  const first = lines.findIndex((l) => l.trim() !== '')
  if (first === -1) throw new CaptionFormatError(1, 'the file is empty; send a WebVTT or SRT file with at least one cue')
  let format: ParsedCaptions['format']
  let input: string
  let offset = 0
  if (/^WEBVTT(?:$|[ \t])/.test(lines[0]!)) {
    format = 'webvtt'
    input = lines.join('\n')
  } else if (/^\d+\s*$/.test(lines[first]!) || lines[first]!.includes('-->')) {
    format = 'srt'
    // Two lines of WebVTT header ahead of the converted SRT: its line n is the parser's n + 2.
    input = ['WEBVTT', '', ...srtAsWebVtt(lines)].join('\n')
    offset = 2
  } else {
    throw new CaptionFormatError(first + 1, 'is neither the start of a WebVTT file (the first line must be "WEBVTT") nor of an SRT file (a cue number or a timing line such as "00:00:01,000 --> 00:00:04,000")')
  }
  const parsed = new webvtt.WebVTTParser(ENTITIES).parse(input, 'metadata')
  const fatal = parsed.errors.find((e) => FATAL.has(e.message))
  if (fatal !== undefined) throw fatalError(fatal.message, fatal.line - offset, lines)
  if (parsed.cues.length === 0) throw new CaptionFormatError(lines.length, 'the file has no cues')
  const cues = parsed.cues.map((cue): CaptionCue => ({
    start: cue.startTime,
    end: cue.endTime,
    id: cue.id,
    settings: settingsOf(cue),
    text: cue.text,
    plain: plainText(cue.tree.children).replace(/\s+/g, ' ').trim()
  }))
  cues.sort((a, b) => a.start - b.start || a.end - b.end)
  return { format, cues, styles: format === 'webvtt' ? parsed.styles : [] }
}
