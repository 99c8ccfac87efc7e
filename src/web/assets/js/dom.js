// Tiny DOM helpers: build elements with text (never HTML), so titles and tags cannot inject markup.

/** h('a', { href: '/x', class: 'y', onclick: fn }, 'text', child) */
export function h (tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') el.className = value
    else if (key === 'text') el.textContent = value
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
  return el
}

export const $ = (selector, root = document) => root.querySelector(selector)

let ids = 0
/** A unique id for label/input pairs in generated forms. */
export const uid = (prefix) => `${prefix}-${++ids}`
