/** What a delivered body was: an HLS segment, a playlist, a range of the progressive MP4, a poster. */
export type DeliveryKind = 'segment' | 'playlist' | 'progressive' | 'poster'
/** Where its bytes came from: the in-process cache, Redis, or object storage. */
export type CacheOutcome = 'l1' | 'l2' | 'origin'

export const DELIVERY_KINDS: readonly DeliveryKind[] = ['segment', 'playlist', 'progressive', 'poster']
export const CACHE_OUTCOMES: readonly CacheOutcome[] = ['l1', 'l2', 'origin']

type ByOutcome = Record<CacheOutcome, number>

/**
 * Delivery's counters for this process: plain integers that the answering code adds to, read
 * when /metrics is scraped. The fast path adds to two fields per answer and calls nothing.
 */
export class DeliveryCounters {
  /** Body bytes handed to sockets, by kind and cache outcome. */
  readonly bytes: Record<DeliveryKind, ByOutcome> = {
    segment: { l1: 0, l2: 0, origin: 0 },
    playlist: { l1: 0, l2: 0, origin: 0 },
    progressive: { l1: 0, l2: 0, origin: 0 },
    poster: { l1: 0, l2: 0, origin: 0 }
  }

  /** Answers of the fast path (ahead of the router), by status class: index 2 is 2xx, 3 is 3xx, 4 is 4xx. */
  readonly fastPathAnswers = [0, 0, 0, 0, 0, 0]

  add (kind: DeliveryKind, outcome: CacheOutcome, bytes: number): void {
    this.bytes[kind][outcome] += bytes
  }
}

/** The one set of delivery counters of this process (a scrape reports the process). */
export const deliveryCounters = new DeliveryCounters()
