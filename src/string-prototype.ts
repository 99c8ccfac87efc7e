/**
 * Puts String.prototype back into V8's fast mode, after every module is loaded.
 *
 * A class that extends String (ioredis's RESP3 `VerbatimString`, loaded whether or not Redis is
 * configured) leaves String.prototype in dictionary mode in V8 11 (Node 20). V8 makes a prototype
 * fast again when an inline cache looks a property up through it from an object, but a string
 * method's receiver is a primitive, so that never happens: every `.startsWith()`, `.slice()`,
 * `.charCodeAt()`, `.toLowerCase()` in optimized code (Node's HTTP internals, Fastify's, ours) then
 * goes through a generic property lookup. Measured on the delivery fast path (2026-12-03): checking
 * a URL took 455 ns instead of 166 ns, with one such lookup per character of a session id.
 *
 * A few dozen loads through an object whose prototype is String.prototype make V8 mark it as a
 * prototype to keep fast and migrate it (the loop is longer than V8's lazy feedback allocation, so
 * the load's inline cache exists for most of it). test/string-prototype.test.ts checks the result
 * with V8's own %HasFastProperties.
 */
export function keepStringPrototypeFast (): void {
  const receiver = Object.create(String.prototype) as { startsWith?: unknown }
  const load = (): unknown => receiver.startsWith
  for (let i = 0; i < 1000; i++) load()
}
