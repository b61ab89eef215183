/**
 * Test helpers for Prometheus scrapes: fetch `/metrics` and read sample values by name and labels.
 */

/** One scrape: the raw text and its samples keyed by `name{label="value",…}` as exposed. */
export class Scrape {
  readonly text: string
  readonly contentType: string
  readonly #samples = new Map<string, number>()

  constructor (text: string, contentType = '') {
    this.text = text
    this.contentType = contentType
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      this.#samples.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
  }

  /** The value of a sample, or undefined when the scrape does not have it. */
  value (name: string, labels: Record<string, string> = {}): number | undefined {
    const entries = Object.entries(labels)
    if (entries.length === 0) return this.#samples.get(name)
    // prom-client writes labels in declaration order; match regardless of order.
    for (const [key, value] of this.#samples) {
      if (!key.startsWith(`${name}{`)) continue
      if (entries.every(([label, wanted]) => key.includes(`${label}="${wanted}"`))) return value
    }
    return undefined
  }

  /** Whether the scrape declares a metric of this name (`# TYPE name type`). */
  declares (name: string, type: string): boolean {
    return this.text.includes(`# TYPE ${name} ${type}\n`)
  }
}

/** GET `url` (a /metrics endpoint) and parse it. */
export async function scrape (url: string): Promise<Scrape> {
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`)
  return new Scrape(await response.text(), response.headers.get('content-type') ?? '')
}

/** Scrape until `predicate` holds (counters move asynchronously with socket events). */
export async function scrapeUntil (url: string, predicate: (scrape: Scrape) => boolean, timeoutMs = 5000): Promise<Scrape> {
  const started = Date.now()
  for (;;) {
    const result = await scrape(url)
    if (predicate(result)) return result
    if (Date.now() - started > timeoutMs) throw new Error(`scrape of ${url} did not reach the expected state within ${timeoutMs} ms:\n${result.text.split('\n').filter((line) => line.startsWith('realtime_')).join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
