// A teacher's caption file, checked in the page and sent to POST /api/videos/:id/captions: shared
// by the upload page and the owner's tools on the watch page.
import { getSession, refresh } from './session.js'

/** The server's limit (CAPTION_MAX_BYTES); checked here too, so a wrong file is named before it is sent. */
export const CAPTION_MAX_BYTES = 2 * 1024 * 1024
/** A loose BCP 47 shape (language, then subtags); the server canonicalises and has the last word. */
const TAG = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$/

/** The browser's own language (en-US, pt-BR...), the likeliest language of a teacher's captions. */
export function defaultCaptionLanguage () {
  const tag = navigator.language ?? ''
  return TAG.test(tag) ? tag : 'en'
}

/**
 * What is wrong with a caption file and its language, in words, with the field at fault
 * ('file' or 'language'); null when they can be sent.
 */
export function captionProblem (file, language) {
  if (file === undefined) return { field: 'file', message: 'Choose a caption file (WebVTT .vtt or SubRip .srt).' }
  if (!/\.(vtt|srt)$/i.test(file.name)) return { field: 'file', message: `“${file.name}” is not a caption file. Choose a WebVTT (.vtt) or SubRip (.srt) file.` }
  if (file.size === 0) return { field: 'file', message: `“${file.name}” is empty. Choose another caption file.` }
  if (file.size > CAPTION_MAX_BYTES) return { field: 'file', message: `“${file.name}” is larger than the ${CAPTION_MAX_BYTES / 1024 / 1024} MB caption limit.` }
  if (language === '') return { field: 'language', message: 'Give the captions’ language as a tag such as en, fr or pt-BR.' }
  if (!TAG.test(language)) return { field: 'language', message: `“${language}” is not a language tag. Use a tag such as en, fr or pt-BR.` }
  return null
}

/** Sends the file; resolves to the stored track ({ language, label, cues, ... }), or throws with the server's message (which names the line of a malformed file). */
export async function sendCaptions (videoId, { file, language, label }, retried = false) {
  const body = new FormData()
  body.append('language', language)
  if (label !== '') body.append('label', label)
  body.append('file', file)
  const session = getSession()
  let res
  try {
    res = await fetch(`/api/videos/${encodeURIComponent(videoId)}/captions`, {
      method: 'POST',
      body,
      headers: session === null ? { accept: 'application/json' } : { accept: 'application/json', authorization: `Bearer ${session.token}` }
    })
  } catch {
    throw new Error('Lectern could not be reached. Check your network connection and try again.')
  }
  // An access token that ran out while the video was sent: renew it once and send again.
  if (res.status === 401 && !retried && await refresh()) return await sendCaptions(videoId, { file, language, label }, true)
  const data = await res.json().catch(() => null)
  if (!res.ok) throw new Error(data?.message ?? `the server answered ${res.status}`)
  return data
}
