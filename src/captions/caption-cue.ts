/** One caption cue as Lectern keeps it. Times in seconds. */
export interface CaptionCue {
  start: number
  end: number
  /** the cue identifier, '' when it has none */
  id: string
  /** the timing line's settings as WebVTT writes them (`align:start line:10%`), '' when none */
  settings: string
  /** the cue text as written, styling tags kept (for display) */
  text: string
  /** the text without tags or escapes, lines joined by spaces (for search and the transcript) */
  plain: string
}
