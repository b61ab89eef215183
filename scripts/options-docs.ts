/**
 * `npm run docs:options`: writes what the docs say about every tunable from the one place that
 * defines them (src/options.ts, src/channels/policy.ts, src/app/config.ts): `.env.example`, the
 * README's option and channel-field tables, and the variable table of docs/operations.md.
 * `test/unit/options-docs.test.ts` fails when a file is not what this would write.
 * With `--check` it only compares, and exits 1 naming what is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { environmentVariables } from '../src/app/config.js'
import { CHANNEL_FIELDS } from '../src/channels/policy.js'
import { OPTIONS } from '../src/options.js'
import { defaultShown, expectation, type Tunable } from '../src/tunables.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Headings of `.env.example`, in the order they come. */
const GROUP_ORDER = ['Server', 'Ticker and shutdown', 'Connection limits', 'Channels', 'Reconnects and recovery', 'Tokens and RPC', 'Metrics', 'Scale-out on Redis', 'HTTP API and webhooks', 'Pusher protocol']

const cell = (text: string): string => text.replace(/\|/g, '\\|')
const code = (text: string): string => text === '' || text === '—' || /^[a-z -]+$/.test(text) ? text || '—' : `\`${text}\``

/** A Markdown table of tunables: name, default, meaning (with the unit and the bounds). */
function table (heading: [string, string, string], rows: Array<[string, Tunable]>): string {
  const lines = [`| ${heading.join(' | ')} |`, '|---|---|---|']
  for (const [name, tunable] of rows) {
    const bounds = tunable.expected === undefined && tunable.defaultText === undefined && typeof tunable.default === 'number' ? ` Valid: ${expectation(tunable)}.` : ''
    lines.push(`| \`${name}\` | ${cell(code(defaultShown(tunable)))} | ${cell(tunable.description)}${cell(bounds)} |`)
  }
  return lines.join('\n')
}

/** The README's table of plugin options. */
export function optionsTable (): string {
  return table(['Option', 'Default', 'Meaning'], Object.entries(OPTIONS))
}

/** The README's table of channel declaration fields. */
export function channelFieldsTable (): string {
  return table(['Channel field', 'Default', 'Meaning'], Object.entries(CHANNEL_FIELDS))
}

function grouped (): Array<[string, ReturnType<typeof environmentVariables>]> {
  const groups = new Map<string, ReturnType<typeof environmentVariables>>()
  for (const variable of environmentVariables()) {
    const group = variable.tunable.group ?? 'Other'
    groups.set(group, [...(groups.get(group) ?? []), variable])
  }
  const rank = (group: string): number => GROUP_ORDER.includes(group) ? GROUP_ORDER.indexOf(group) : GROUP_ORDER.length
  return [...groups.entries()].sort(([a], [b]) => rank(a) - rank(b))
}

/** docs/operations.md's table of the demo server's variables. */
export function envTable (): string {
  const lines = ['| Variable | Default | Meaning |', '|---|---|---|']
  for (const [, variables] of grouped()) {
    for (const { name, key, tunable, plugin } of variables) {
      const option = plugin ? ` (plugin option \`${key}\`)` : ''
      lines.push(`| \`${name}\` | ${cell(code(defaultShown(tunable)))} | ${cell(tunable.description)}${option} Must be ${cell(expectation(tunable))}. |`)
    }
  }
  return lines.join('\n')
}

/** Wrap prose into `# ` comment lines of at most 100 characters. */
function comment (text: string): string[] {
  const lines: string[] = []
  let line = '#'
  for (const word of text.replace(/`/g, '').split(/\s+/)) {
    if (line.length + 1 + word.length > 100) {
      lines.push(line)
      line = '#'
    }
    line += ` ${word}`
  }
  lines.push(line)
  return lines
}

/** The whole `.env.example`. */
export function envExample (): string {
  const out = [
    '# fastify-realtime demo server configuration (written by `npm run docs:options` from the options',
    '# schema: src/options.ts and src/app/config.ts; edit those, not this file).',
    '# `cp .env.example .env` works as it is: an empty value means unset, so its default applies.',
    '# Variables already set in the environment win over .env. Every value is validated at boot: an',
    '# invalid one stops the server with a message naming it. Each plugin option of the same name in',
    '# camelCase takes the same values (TICK_INTERVAL_MS is tickIntervalMs).'
  ]
  for (const [group, variables] of grouped()) {
    out.push('', `# --- ${group} ${'-'.repeat(Math.max(3, 94 - group.length))}`)
    for (const { name, tunable } of variables) {
      out.push('', ...comment(`${tunable.description} Must be ${expectation(tunable)}.${tunable.details === undefined ? '' : ` ${tunable.details}`}`))
      const value = typeof tunable.default === 'number' || typeof tunable.default === 'string' || typeof tunable.default === 'boolean' ? String(tunable.default) : ''
      out.push(`${name}=${value}`)
    }
  }
  return `${out.join('\n')}\n`
}

/** Replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
function spliced (text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from === -1 || to < from) throw new Error(`no ${start} … ${end} block`)
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`
}

/** Every generated file, as it should read now. */
export function expectedFiles (): Record<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const operations = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8')
  return {
    '.env.example': envExample(),
    'README.md': spliced(spliced(readme, 'options', optionsTable()), 'channel-fields', channelFieldsTable()),
    'docs/operations.md': spliced(operations, 'env', envTable())
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check')
  const stale: string[] = []
  for (const [file, content] of Object.entries(expectedFiles())) {
    const path = join(ROOT, file)
    if (readFileSync(path, 'utf8') === content) continue
    stale.push(file)
    if (!check) writeFileSync(path, content)
  }
  if (check && stale.length > 0) {
    console.error(`out of date (run npm run docs:options): ${stale.join(', ')}`)
    process.exit(1)
  }
  console.log(stale.length === 0 ? 'the docs of every tunable are up to date' : `written: ${stale.join(', ')}`)
}
