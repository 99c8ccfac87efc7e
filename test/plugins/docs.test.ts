import t from 'tap'
import { Ajv } from 'ajv'
import { buildTestApp } from '../helpers/app.js'

// Every JSON route of the API, as DESIGN.md lists them.
const JSON_ROUTES: Array<[string, string]> = [
  ['post', '/api/auth/register'],
  ['post', '/api/auth/login'],
  ['get', '/api/auth/me'],
  ['post', '/api/videos'],
  ['get', '/api/videos'],
  ['get', '/api/videos/{id}'],
  ['patch', '/api/videos/{id}'],
  ['delete', '/api/videos/{id}'],
  ['get', '/api/search'],
  ['get', '/health/live'],
  ['get', '/health/ready']
]

type Json = Record<string, any>

/** Follows a local $ref (#/components/...) or returns the object itself. */
function deref (doc: Json, value: Json): Json {
  if (typeof value?.$ref !== 'string') return value
  const path = value.$ref.replace(/^#\//, '').split('/')
  let node: any = doc
  for (const key of path) node = node?.[key]
  if (node === undefined) throw new Error(`unresolved $ref ${value.$ref}`)
  return node
}

t.test('/docs/json is a valid OpenAPI 3 document listing every JSON route', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as Json
  t.match(doc.openapi, /^3\.\d+\.\d+$/)
  t.type(doc.info?.title, 'string')
  t.type(doc.info?.version, 'string')
  t.equal(doc.components?.securitySchemes?.bearerAuth?.scheme, 'bearer')

  for (const [method, path] of JSON_ROUTES) {
    const op = doc.paths?.[path]?.[method]
    t.ok(op, `${method.toUpperCase()} ${path} is documented`)
    if (op === undefined) continue
    t.ok(Array.isArray(op.tags) && op.tags.length > 0, `${path}: tagged`)
    t.type(op.summary, 'string', `${path}: has a summary`)
    const success = Object.keys(op.responses ?? {}).filter((code) => /^2\d\d$/.test(code))
    t.ok(success.length > 0, `${method} ${path}: documents its success answer`)
  }

  const upload = doc.paths['/api/videos'].post
  t.same(Object.keys(upload.requestBody.content), ['multipart/form-data'], 'the upload is documented as multipart')
  t.same(upload.requestBody.content['multipart/form-data'].schema.required, ['file', 'title'])
  t.equal(doc.paths['/api/videos/{id}'].patch.requestBody.content['application/json'].schema.properties.visibility.enum.length, 3)
  t.same(doc.paths['/api/auth/me'].get.security, [{ bearerAuth: [] }])

  // Structural validity: path templates declare their parameters, every $ref resolves, and
  // every schema compiles (OpenAPI 3.0 schema objects: JSON Schema plus `nullable`).
  const ajv = new Ajv({ strict: false, validateFormats: false })
  ajv.addKeyword('example')
  const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
  let schemas = 0
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    t.match(path, /^\//)
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])
    for (const [method, raw] of Object.entries(item as Json)) {
      if (!methods.includes(method)) continue
      const op = raw as Json
      t.ok(op.responses !== undefined && Object.keys(op.responses).length > 0, `${method} ${path}: has responses`)
      const params = (op.parameters ?? []).map((p: Json) => deref(doc, p))
      for (const name of templated) {
        const p = params.find((x: Json) => x.in === 'path' && x.name === name)
        t.ok(p?.required === true, `${method} ${path}: path parameter ${name} declared and required`)
      }
      for (const p of params) {
        t.ok(['query', 'header', 'path', 'cookie'].includes(p.in), `${method} ${path}: parameter ${p.name} has a valid "in"`)
        if (p.schema !== undefined) { ajv.compile(p.schema); schemas++ }
      }
      for (const media of Object.values(deref(doc, op.requestBody ?? {}).content ?? {})) {
        ajv.compile((media as Json).schema); schemas++
      }
      for (const [code, response] of Object.entries(op.responses as Json)) {
        t.match(code, /^([1-5]\d\d|default)$/, `${method} ${path}: status ${code}`)
        const r = deref(doc, response)
        t.type(r.description, 'string', `${method} ${path} ${code}: has a description`)
        for (const media of Object.values(r.content ?? {})) {
          if ((media as Json).schema !== undefined) { ajv.compile((media as Json).schema); schemas++ }
        }
      }
    }
  }
  t.ok(schemas > 30, `${schemas} schemas compiled`)

  const ui = await app.inject({ url: '/docs' })
  t.equal(ui.statusCode, 200, 'the UI is served at /docs')
  t.match(ui.headers['content-type'], /text\/html/)
})
