/**
 * The form an email is stored and looked up in: trimmed, Unicode NFC, lower case. Lower-casing the
 * local part is not what RFC 5321 promises, but every mail provider in use treats it so, and it
 * is what stops `Ann@x.org` and `ann@x.org` from becoming two accounts.
 */
export function normalizeEmail (email: string): string {
  return email.trim().normalize('NFC').toLowerCase()
}

// Deliberately loose: one @, something on each side, a dot in the domain, no spaces. Whether
// the mailbox exists is not something a regex can know.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/

export function isPlausibleEmail (email: string): boolean {
  return email.length <= 254 && EMAIL.test(email)
}
