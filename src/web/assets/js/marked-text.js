// Search answers mark matched words as HTML (escaped text with <mark>); this turns that into DOM
// nodes without ever parsing HTML, so nothing else in the text can become markup.
import { h } from './dom.js'

const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

export function markedText (html) {
  return html.split(/(<mark>.*?<\/mark>)/).filter((part) => part !== '').map((part) =>
    part.startsWith('<mark>') ? h('mark', { text: unescape(part.slice(6, -7)) }) : unescape(part))
}
