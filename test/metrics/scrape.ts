import http from 'node:http'

/** Samples of one Prometheus text exposition, by `name{label="value",...}` exactly as written. */
export type Samples = Map<string, number>

/** Parses the text format (no prom-client: an independent reading of what was served). */
export function parseExposition (text: string): Samples {
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    samples.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return samples
}

/** A sample's value, 0 when absent; labels in the order Lectern writes them. */
export function value (samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const entries = Object.entries(labels)
  const key = entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(',')}}`
  return samples.get(key) ?? 0
}

/** Sum of every sample of a metric whose labels include the given ones. */
export function sum (samples: Samples, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const [key, v] of samples) {
    const brace = key.indexOf('{')
    if ((brace === -1 ? key : key.slice(0, brace)) !== name) continue
    if (Object.entries(labels).every(([k, l]) => key.includes(`${k}="${l}"`))) total += v
  }
  return total
}

/** GET /metrics over a real socket. */
export function scrape (base: string, headers: Record<string, string> = {}): Promise<{ status: number, contentType: string | undefined, text: string, samples: Samples }> {
  return new Promise((resolve, reject) => {
    http.get(base + '/metrics', { headers, agent: false }, (res) => {
      const pieces: Buffer[] = []
      res.on('data', (d: Buffer) => pieces.push(d))
      res.on('end', () => {
        const text = Buffer.concat(pieces).toString('utf8')
        resolve({ status: res.statusCode!, contentType: res.headers['content-type'], text, samples: res.statusCode === 200 ? parseExposition(text) : new Map() })
      })
    }).on('error', reject)
  })
}
