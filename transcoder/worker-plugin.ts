import fp from 'fastify-plugin'
import { Worker } from './worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The inline transcode worker, when WORKER=inline. */
    transcodeWorker: Worker | null
  }
}

/**
 * WORKER=inline runs one transcode worker in the API process (concurrency 1: one ffmpeg already
 * uses every core). It stops, killing ffmpeg and giving its job back, when the app closes.
 */
export default fp(async function transcoderPlugin (app) {
  if (app.config.worker !== 'inline') {
    app.decorate('transcodeWorker', null)
    return
  }
  const worker = new Worker({
    db: app.db,
    storage: app.storage,
    config: app.config,
    log: app.log.child({ component: 'transcoder' })
  })
  app.decorate('transcodeWorker', worker)
  app.addHook('onReady', async () => { worker.start() })
  // preClose: before the storage and database plugins close what the worker still uses.
  app.addHook('preClose', async () => { await worker.stop() })
}, { fastify: '5.x', name: 'lectern-transcoder', dependencies: ['lectern-storage', 'lectern-db'] })
