import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'

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
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      }
    },
    transform: jsonSchemaTransform
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { fastify: '5.x', name: 'lectern-docs' })
