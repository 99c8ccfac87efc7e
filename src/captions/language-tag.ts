/**
 * A caption language as a canonical BCP 47 tag (`en-us` becomes `en-US`), or undefined when the
 * text is not a well-formed tag. Intl does the checking and canonicalisation.
 */
export function canonicalLanguage (tag: string): string | undefined {
  if (!/^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$/.test(tag) || tag.length > 35) return undefined
  try {
    return Intl.getCanonicalLocales(tag)[0]
  } catch {
    return undefined
  }
}

/** The language's own name for itself (`de` -> "Deutsch"), the tag when Intl has none. */
export function languageLabel (tag: string): string {
  try {
    const name = new Intl.DisplayNames([tag], { type: 'language' }).of(tag)
    if (name !== undefined && name !== '') return name.charAt(0).toLocaleUpperCase(tag) + name.slice(1)
  } catch {}
  return tag
}
