import t from 'tap'
import Fastify from 'fastify'
import { z } from 'zod'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { errorHandler, notFoundHandler } from '../src/error-handler.js'
import { ConflictError, DependencyUnavailableError } from '../src/errors.js'

async function bare () {
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  app.get('/boom', async () => { throw new Error('ECONNREFUSED 10.0.0.7:5432 password=hunter2') })
  app.get('/conflict', async () => { throw new ConflictError('Video is still processing') })
  app.get('/unavailable', async () => { throw new DependencyUnavailableError('Storage is unavailable; retry shortly') })
  app.post('/things', { schema: { body: z.object({ title: z.string().min(1).max(5), count: z.number().int() }) } }, async () => ({ ok: true }))
  await app.ready()
  return app
}

t.test('a 5xx body never carries internals', async (t) => {
  const app = await bare()
  t.teardown(() => app.close())
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'LECTERN_ERR_INTERNAL', error: 'Internal Server Error', message: 'Something went wrong on our side; it has been logged.' })
  t.notMatch(res.body, /hunter2|10\.0\.0\.7|at /)
})

t.test('typed errors keep their code and message', async (t) => {
  const app = await bare()
  t.teardown(() => app.close())
  const res = await app.inject('/conflict')
  t.equal(res.statusCode, 409)
  t.same(res.json(), { statusCode: 409, code: 'LECTERN_ERR_CONFLICT', error: 'Conflict', message: 'Video is still processing' })
  const unavailable = await app.inject('/unavailable')
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.json().message, 'Storage is unavailable; retry shortly')
})

t.test('validation errors are 400 and name the field', async (t) => {
  const app = await bare()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/things', payload: { title: 'much too long', count: 'x' } })
  t.equal(res.statusCode, 400)
  const body = res.json()
  t.equal(body.code, 'LECTERN_ERR_VALIDATION')
  t.match(body.message, /body\.title/)
  t.match(body.message, /body\.count/)
})

t.test('malformed JSON is a 400 with the JSON shape', async (t) => {
  const app = await bare()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: '{"title":' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().statusCode, 400)
  t.type(res.json().message, 'string')
})

t.test('unknown routes get the JSON error shape', async (t) => {
  const app = await bare()
  t.teardown(() => app.close())
  const res = await app.inject('/nope?x=1')
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'LECTERN_ERR_ROUTE_NOT_FOUND', error: 'Not Found', message: 'No route GET /nope' })
})
