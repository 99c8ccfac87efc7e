import fp from 'fastify-plugin'
import { z } from 'zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { VideoSearchIndex, type IndexedCue } from '../src/search/video-search-index.js'
import { findMoments } from '../src/search/find-moments.js'
import { parseCaptions } from '../src/captions/parse-captions.js'
import { readObject } from '../src/storage/read-object.js'
import { SearchIndexSync } from '../src/search/search-index-sync.js'
import { decodeCursor, encodeCursor } from '../src/api/opaque-cursor.js'
import { errorSchema } from '../src/api/error-schema.js'
import { BadRequestError } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** This node's search index and its sync; call refresh(id)/remove(id) after changing a video. */
    searchIndex: SearchIndexSync
  }
}

/** Caption moments shown per video in search results. */
const MOMENTS_PER_VIDEO = 3

const querySchema = z.object({
  q: z.string().max(200, 'must be at most 200 characters').default('').describe('words; the last one also matches as a prefix'),
  tags: z.union([z.string(), z.array(z.string())]).optional()
    .describe('only videos with every one of these tags: a comma list, or the parameter repeated'),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number')
    .min(1, 'must be at least 1').max(100, 'must be at most 100').default(20),
  cursor: z.string().max(500, 'is not a cursor this endpoint gave out').optional().describe('nextCursor of the previous page')
})

const resultSchema = z.object({
  items: z.array(z.object({
    id: z.string(),
    owner: z.string(),
    title: z.string(),
    description: z.string(),
    tags: z.array(z.string()),
    duration: z.number().nullable(),
    createdAt: z.string(),
    relevance: z.number().describe('title matches weigh 4, tags 2, description 1, captions 0.5, summed over the words'),
    moments: z.array(z.object({
      start: z.number().describe('seconds'),
      end: z.number(),
      text: z.string().describe('the cue as HTML (escaped) with the matched words in <mark>')
    })).describe('where the words are said (caption cues), best first; empty when the captions do not match')
  })),
  nextCursor: z.string().nullable()
})

export default fp(async function searchPlugin (fastify) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const index = new VideoSearchIndex()
  const sync = new SearchIndexSync(app.db, index, app.log.child({ component: 'search' }), {
    loadCues: async (video) => {
      const tracks = await Promise.all((video.captions ?? []).map(async (t) => parseCaptions(await readObject(app.storage, t.key)).cues))
      return tracks.flat().map((c): IndexedCue => ({ start: c.start, end: c.end, text: c.plain })).sort((a, b) => a.start - b.start)
    }
  })
  await sync.start()
  app.decorate('searchIndex', sync)
  app.addHook('onClose', async () => { await sync.stop() })

  await app.register(async function searchRoutes (child) {
    child.withTypeProvider<ZodTypeProvider>().get('/api/search', {
      schema: {
        tags: ['search'],
        summary: 'Search public, ready videos: relevance (title > tag > description > captions), then newest; caption matches come with their moments',
        querystring: querySchema,
        response: { 200: resultSchema, 400: errorSchema }
      }
    }, async (request) => {
      const { q, limit, cursor } = request.query
      const tags = (Array.isArray(request.query.tags) ? request.query.tags : [request.query.tags ?? ''])
        .flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '')
      let after
      if (cursor !== undefined) {
        const c = decodeCursor(cursor, { r: 'number', c: 'number', id: 'string', q: 'string' })
        after = { relevance: c.r as number, createdAt: c.c as number, id: c.id as string, query: c.q as string }
      }
      const page = index.search({ q, tags, limit, after })
      if (after !== undefined && after.query !== page.query) {
        throw new BadRequestError('cursor: belongs to a different query (q or tags changed); start again without it')
      }
      return {
        items: page.hits.map(({ entry, relevance }) => ({
          id: entry.id,
          owner: entry.owner,
          title: entry.title,
          description: entry.description,
          tags: entry.tags,
          duration: entry.duration,
          createdAt: new Date(entry.createdAt).toISOString(),
          relevance,
          moments: entry.cues === undefined || entry.cues.length === 0 ? [] : findMoments(entry.cues, q, MOMENTS_PER_VIDEO)
        })),
        nextCursor: page.next === undefined
          ? null
          : encodeCursor({ r: page.next.relevance, c: page.next.createdAt, id: page.next.id, q: page.next.query })
      }
    })
  })
}, { fastify: '5.x', name: 'lectern-search', dependencies: ['lectern-db', 'lectern-storage'] })
