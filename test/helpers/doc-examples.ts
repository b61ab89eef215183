/**
 * The TypeScript examples of the README and docs/, read as printed. Each ```ts block is one
 * example, named `<DOC>:<n>` (the n-th block of that document, e.g. `README:2`), and is preceded
 * by a comment that says how the consumer test runs it:
 *
 *   <!-- example: run=server ws=/ws expect=welcome,tick post=/announce:broadcast -->
 *
 * - `run=server`: start it (PORT, REDIS_URL… from the test), then `login=` (GET, keep the session
 *   cookie), `ws=` (connect), `sub=` (subscribe), `expect=` (frame types that must arrive),
 *   `post=PATH:TYPE` (POST, then a frame of TYPE must arrive), `get=PATH:TEXT` (GET, polled for up to 10 s until 200 with TEXT),
 *   `refused=CODE` (the `sub=` must be answered by an `error` of that code; list `error` in `expect=`).
 * - `run=node server=DOC:n prints=TEXT`: run it against that server example (REALTIME_URL); it must
 *   exit 0 having printed TEXT (`tick` when not given).
 * - `run=browser server=DOC:n login=PATH console=TEXT`: load it in Chromium on that server's origin;
 *   a console line must contain TEXT.
 * - `needs=a,b`: packages the example imports besides fastify and fastify-realtime (the docs say
 *   to install them); `env=REDIS_URL`: it needs a Redis.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'

/** One example, as printed, with how to run it. */
export interface DocExample {
  /** `README:1`, `operations:2`… */
  name: string
  /** A file-name-safe form of the name. */
  slug: string
  /** The document it is printed in, relative to the package root. */
  doc: string
  code: string
  /** The annotation's key=value pairs (empty when the block has none). */
  settings: Record<string, string>
}

const BLOCK = /(?:<!-- example: ([^>]*?) -->\n)?```ts\n([\s\S]*?)```/g

/** The documents whose examples are checked: the README and every Markdown file of docs/. */
export function documents (root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)]
}

/** Every ```ts example of the documents under `root`, in order. */
export function docExamples (root: string): DocExample[] {
  return documents(root).flatMap((doc) => {
    const label = basename(doc, '.md')
    return [...readFileSync(join(root, doc), 'utf8').matchAll(BLOCK)].map((match, index) => {
      const settings = Object.fromEntries((match[1] ?? '').split(/\s+/).filter((pair) => pair !== '').map((pair) => {
        const at = pair.indexOf('=')
        return at === -1 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)]
      }))
      const name = `${label}:${index + 1}`
      return { name, slug: name.replace(/[^A-Za-z0-9]+/g, '-'), doc, code: match[2] ?? '', settings }
    })
  })
}

/**
 * The code blocks of one language in a document, as printed (e.g. the Python of docs/api.md,
 * which a test runs against the real server's output).
 * @param doc - relative to `root`, e.g. `docs/api.md`
 */
export function codeBlocks (root: string, doc: string, language: string): string[] {
  const fence = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g')
  return [...readFileSync(join(root, doc), 'utf8').matchAll(fence)].map((match) => match[1] ?? '')
}
