import type { ObjectStore } from '../storage/object-store.js'
import { isObjectNotFound } from '../errors.js'
import { storageOperationSeconds } from './process-metrics.js'

type Op = 'get' | 'head' | 'put' | 'delete' | 'deletePrefix' | 'list'
const TIMED: readonly Op[] = ['get', 'head', 'put', 'delete', 'deletePrefix', 'list']

/**
 * The same store with every call timed into lectern_storage_operation_seconds. It inherits from
 * the store (Object.create), so `instanceof FsObjectStore` and fields such as `root` still hold.
 */
export function instrumentStore<T extends ObjectStore> (store: T): T {
  const timed = Object.create(store) as T
  const backend = store.kind
  for (const op of TIMED) {
    const call = (store[op] as (...args: unknown[]) => Promise<unknown>).bind(store)
    Object.defineProperty(timed, op, {
      value: async (...args: unknown[]) => {
        const end = storageOperationSeconds.startTimer({ op, backend })
        try {
          const result = await call(...args)
          end({ result: 'ok' })
          return result
        } catch (err) {
          end({ result: isObjectNotFound(err) ? 'not_found' : 'error' })
          throw err
        }
      }
    })
  }
  return timed
}
