// The signed-in account for this tab (sessionStorage), the JSON API client, and the sign-in /
// register form shown in the header dialog and on pages that need an account.
import { h, $, uid } from './dom.js'

const KEY = 'lectern.session'
const listeners = new Set()

function stored () {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? 'null')
    return session === null || typeof session.token !== 'string' ? null : session
  } catch {
    return null
  }
}

/** { token, user, expiresAt } or null; an expired access token counts as signed out (until it is refreshed). */
export function getSession () {
  const session = stored()
  if (session === null || (typeof session.expiresAt === 'number' && session.expiresAt <= Date.now())) return null
  return session
}

// Access tokens are short-lived; the refresh token is an HttpOnly cookie the browser sends to
// /api/auth only. A timer renews the access token a minute before it expires, so long uploads
// and open pages keep a valid one.
let timer
let refreshing
function schedule (session) {
  clearTimeout(timer)
  if (session === null || typeof session.expiresAt !== 'number') return
  timer = setTimeout(() => { void refresh() }, Math.max(5_000, session.expiresAt - Date.now() - 60_000))
}

/** Gets a new access token with the refresh cookie; true when signed in again. */
export function refresh () {
  refreshing ??= fetch('/api/auth/refresh', { method: 'POST', headers: { accept: 'application/json' } })
    .then(async (res) => {
      if (!res.ok) { setSession(null); return false }
      const answer = await res.json()
      setSession({ token: answer.token, user: answer.user, expiresAt: Date.now() + answer.expiresIn * 1000 })
      return true
    }, () => false)
    .finally(() => { refreshing = undefined })
  return refreshing
}

function setSession (session) {
  if (session === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, JSON.stringify(session))
  schedule(session)
  for (const listener of listeners) listener(session)
}

export const signOut = () => {
  // The server forgets the refresh token (and clears its cookie).
  fetch('/api/auth/logout', { method: 'POST' }).catch(() => {})
  setSession(null)
}

// A tab whose access token ran out while it was closed or asleep signs in again if it can.
if (stored() !== null && getSession() === null) void refresh()
else schedule(getSession())

/** Calls back now and whenever the tab signs in or out. */
export function onSession (listener) {
  listeners.add(listener)
  listener(getSession())
}

export class ApiError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** fetch for the JSON API: sends the token, parses the answer, throws ApiError with the server's message. */
export async function api (path, { method = 'GET', body, signal } = {}, retried = false) {
  const headers = { accept: 'application/json' }
  // An access token that ran out (a tab asleep past its renewal) is renewed before the call.
  if (getSession() === null && stored() !== null && !retried) await refresh()
  const session = getSession()
  if (session !== null) headers.authorization = `Bearer ${session.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
  } catch (err) {
    if (err.name === 'AbortError') throw err
    throw new ApiError(0, 'NETWORK', 'Lectern could not be reached. Check your network connection and try again.')
  }
  if (res.status === 204) return null
  const data = await res.json().catch(() => null)
  if (!res.ok) {
    // A token the server refuses (expired, or from before a restart with a new secret): one refresh
    // and one more try; if that fails too, the session ends.
    if (res.status === 401 && session !== null) {
      if (!retried && await refresh()) return await api(path, { method, body, signal }, true)
      setSession(null)
    }
    throw new ApiError(res.status, data?.code ?? 'HTTP', data?.message ?? `The server answered ${res.status}.`)
  }
  return data
}

const sentence = (message) => message.replace(/^\w+: /, '').replace(/^./, (c) => c.toUpperCase()).replace(/([^.])$/, '$1.')

/**
 * A sign-in form that can switch to registering; calls onDone(session) once signed in. Opened from
 * a sign-up mail's link (/?confirm=<code>), it is one button that finishes the sign-up: a click,
 * not a page load, so that a mail scanner that opens links does not use the link up.
 */
export function accountForm ({ onDone, headingLevel = 'h2', startWith = 'signin' } = {}) {
  const ids = { name: uid('name'), email: uid('email'), password: uid('password'), hint: uid('hint'), heading: uid('heading') }
  const heading = h(headingLevel, { id: ids.heading })
  const nameField = h('div', {},
    h('label', { for: ids.name, text: 'Your name' }),
    h('input', { id: ids.name, name: 'name', type: 'text', autocomplete: 'name', maxlength: 100 }))
  const email = h('input', { id: ids.email, name: 'email', type: 'email', autocomplete: 'email', required: true })
  const password = h('input', { id: ids.password, name: 'password', type: 'password', required: true, minlength: 10, 'aria-describedby': ids.hint })
  const hint = h('p', { class: 'hint', id: ids.hint })
  const error = h('p', { class: 'error', role: 'alert' })
  const submit = h('button', { type: 'submit' })
  const switchText = h('span')
  const switchButton = h('button', { type: 'button', class: 'link' })
  // What the page says after a sign-up that waits for its mail, and on a confirmation link.
  const notice = h('p', { class: 'notice', role: 'status' })
  const credentials = h('div', {},
    nameField,
    h('label', { for: ids.email, text: 'Email' }), email,
    h('label', { for: ids.password, text: 'Password' }), password, hint)
  const form = h('form', { class: 'account-form', 'aria-labelledby': ids.heading, novalidate: true },
    heading, notice, credentials,
    error,
    h('div', { class: 'actions' }, submit),
    h('p', {}, switchText, ' ', switchButton))

  // An invitation link (/?invite=<code>) opens on the registration form and sends its code; a
  // sign-up mail's link (/?confirm=<code>) on the step that finishes the sign-up.
  const params = new URLSearchParams(location.search)
  const invite = params.get('invite')
  let confirmCode = params.get('confirm')
  let mode = confirmCode !== null ? 'confirm' : invite !== null ? 'register' : startWith
  function render () {
    const registering = mode === 'register'
    const confirming = mode === 'confirm'
    const waiting = mode === 'sent'
    heading.textContent = confirming ? 'Finish signing up' : waiting ? 'Check your inbox' : registering ? 'Create an account' : 'Sign in'
    credentials.hidden = confirming || waiting
    notice.hidden = !(confirming || waiting)
    if (confirming) notice.textContent = 'This link from your sign-up mail confirms your email address. Create your account to sign in.'
    nameField.hidden = !registering
    nameField.querySelector('input').required = registering
    email.required = password.required = !(confirming || waiting)
    password.autocomplete = registering ? 'new-password' : 'current-password'
    hint.textContent = registering ? 'At least 10 characters.' : ''
    submit.hidden = waiting
    submit.textContent = confirming ? 'Create my account' : registering ? 'Create account' : 'Sign in'
    switchText.textContent = registering ? 'Already have an account?' : confirming || waiting ? 'Your account is ready?' : 'New to Lectern?'
    switchButton.textContent = registering || confirming || waiting ? 'Sign in instead' : 'Create an account'
    error.textContent = ''
  }
  switchButton.addEventListener('click', () => {
    mode = mode === 'signin' ? 'register' : 'signin'
    render();
    (mode === 'register' ? nameField.querySelector('input') : email).focus()
  })
  render()

  /** The link's code is used up (or refused): it leaves the address bar, so a reload does not send it again. */
  function forgetConfirmCode () {
    confirmCode = null
    const url = new URL(location.href)
    url.searchParams.delete('confirm')
    history.replaceState(history.state, '', url)
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    error.textContent = ''
    if (mode === 'confirm') {
      submit.disabled = true
      try {
        const answer = await api('/api/auth/confirm', { method: 'POST', body: { code: confirmCode } })
        forgetConfirmCode()
        mode = startWith
        render()
        const session = { token: answer.token, user: answer.user, expiresAt: Date.now() + answer.expiresIn * 1000 }
        setSession(session)
        onDone?.(session)
      } catch (err) {
        // Refused for good: what is left is to sign in (409: the address has an account) or to sign up again (403).
        if (err.status === 403 || err.status === 409) {
          forgetConfirmCode()
          mode = err.status === 409 ? 'signin' : 'register'
          render()
        }
        error.textContent = err.status === 429 ? 'Too many attempts from this network. Wait a minute, then try again.' : sentence(err.message)
      } finally {
        submit.disabled = false
      }
      return
    }
    const registering = mode === 'register'
    const name = nameField.querySelector('input').value.trim()
    if (registering && name === '') { error.textContent = 'Enter your name.'; return }
    if (!email.value.includes('@')) { error.textContent = 'Enter your email address.'; email.focus(); return }
    if (password.value.length < (registering ? 10 : 1)) {
      error.textContent = registering ? 'Choose a password of at least 10 characters.' : 'Enter your password.'
      password.focus()
      return
    }
    submit.disabled = true
    try {
      const body = registering ? { name, email: email.value, password: password.value, ...(invite !== null ? { invite } : {}) } : { email: email.value, password: password.value }
      const answer = await api(registering ? '/api/auth/register' : '/api/auth/login', { method: 'POST', body })
      if (registering && answer.token === undefined) {
        // 202: the account is made by the link in the mail (whether or not one exists already, the answer is this).
        password.value = ''
        mode = 'sent'
        render()
        notice.textContent = `${answer.message} No mail after a few minutes? Look in your spam folder, or sign up again.`
        return
      }
      const session = { token: answer.token, user: answer.user, expiresAt: Date.now() + answer.expiresIn * 1000 }
      setSession(session)
      password.value = ''
      onDone?.(session)
    } catch (err) {
      error.textContent = err.status === 401
        ? 'That email and password do not match an account. Check them, or create an account.'
        : err.status === 409
          ? 'An account with this email already exists. Sign in instead.'
          : err.status === 429
            ? 'Too many attempts from this network. Wait a minute, then try again.'
            : err.status === 403 && registering
              ? sentence(err.message)
              : err.message
    } finally {
      submit.disabled = false
    }
  })
  return form
}

let dialog
/** Opens the sign-in dialog (created on first use). */
export function openSignIn () {
  if (dialog === undefined) {
    const close = h('button', { type: 'button', class: 'secondary', text: 'Close' })
    dialog = h('dialog', { 'aria-label': 'Sign in or create an account' }, accountForm({ onDone: () => dialog.close() }), close)
    close.addEventListener('click', () => dialog.close())
    document.body.append(dialog)
  }
  // showModal focuses the first field.
  dialog.showModal()
}

/** The header's account area: "Sign in", or the name with "Sign out". */
export function mountHeader () {
  const area = $('#account')
  if (area === null) return
  onSession((session) => {
    // Students watch; uploading is for teachers and admins.
    for (const link of document.querySelectorAll('a[href="/upload"]')) link.hidden = session?.user?.role === 'student'
    area.replaceChildren()
    if (session === null) {
      area.append(h('button', { type: 'button', class: 'secondary', onclick: openSignIn, text: 'Sign in' }))
    } else {
      area.append(
        h('span', { class: 'who' }, 'Signed in as ', h('strong', { text: session.user.name || session.user.email })),
        h('button', { type: 'button', class: 'secondary', onclick: signOut, text: 'Sign out' }))
    }
  })
}
