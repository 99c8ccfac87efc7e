import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The documented form of a multipart body. Multipart is parsed by the handler as it streams,
     * not validated up front, so it cannot be a route's body schema; it only goes into /docs.
     */
    multipartBody?: Record<string, unknown>
  }
}

/**
 * The OpenAPI description of the JSON API at /docs (UI) and /docs/json. Registered before any
 * route, since @fastify/swagger collects routes as they are added.
 */
export default fp(async function docsPlugin (app) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Lectern',
        description: 'Self-hosted video streaming for educational content: upload, transcode to an HLS ladder, deliver.',
        version: '0.1.0'
      },
      tags: [
        { name: 'auth', description: 'Accounts and access tokens' },
        { name: 'videos', description: 'Upload and metadata' },
        { name: 'search', description: 'Search over public, ready videos' },
        { name: 'captions', description: 'Caption tracks (WebVTT, SRT) and transcripts' },
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      }
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input)
      const multipartBody = input.route.config?.multipartBody
      if (multipartBody !== undefined) return { ...out, schema: { ...out.schema, body: multipartBody } }
      return out
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { fastify: '5.x', name: 'lectern-docs' })
