// Types for the parts of webvtt-parser (the W3C's WebVTT validator, plain JavaScript) that Lectern uses.
declare module 'webvtt-parser' {
  export interface ParsedCue {
    id: string
    startTime: number
    endTime: number
    /** the cue text as written, tags and escapes included */
    text: string
    direction: 'horizontal' | 'rl' | 'lr'
    snapToLines: boolean
    linePosition: number | 'auto'
    lineAlign: string
    textPosition: number | 'auto'
    positionAlign: string
    size: number
    alignment: string
    tree: { children: CueNode[] }
  }
  export type CueNode =
    | { type: 'text', value: string }
    | { type: 'timestamp', value: number }
    | { type: 'object', name: string, classes: string[], value?: string, children: CueNode[] }
  export interface ParseError { message: string, line: number, col?: number }
  export interface ParseResult { cues: ParsedCue[], errors: ParseError[], styles: string[] }
  export class WebVTTParser {
    constructor (entities?: Record<string, string>)
    parse (input: string, mode?: 'metadata' | 'chapters'): ParseResult
  }
  // CommonJS, exported by assignment: Node gives it to ESM as the default export only.
  const webvtt: { WebVTTParser: typeof WebVTTParser }
  export default webvtt
}
