/**
 * One error vocabulary: every code a client can receive (an `error` frame's code, a close code,
 * an upgrade refusal's code) is in src/errors.ts and documented in docs/PROTOCOL.md, and no code
 * is written as a bare string anywhere else in the library.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { ClientErrorCode, CloseCode, errorCodes, UpgradeRefusal } from '../../src/errors.js'

const protocol = readFileSync(join(packageRoot, 'docs', 'PROTOCOL.md'), 'utf8')

/** The rows of the PROTOCOL.md table whose header row starts with `header`: their first cells. */
function firstCells (header: string): string[] {
  const start = protocol.indexOf(header)
  const rows = protocol.slice(start).split('\n\n')[0]?.split('\n').slice(2) ?? []
  return rows.map((row) => row.split('|')[1]?.trim() ?? '')
}

function librarySources (dir = join(packageRoot, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return ['app', 'client'].includes(entry.name) && dir.endsWith('src') ? [] : librarySources(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

t.test('every error frame code is in the protocol doc\'s error table, and nothing else is', async (t) => {
  const documented = firstCells('| code | when |').map((cell) => cell.replace(/`/g, ''))
  t.same([...documented].sort(), [...Object.values(ClientErrorCode)].sort())
})

t.test('every close code the server sends is in the protocol doc\'s close table', async (t) => {
  const documented = firstCells('| code | sent when |')
  for (const code of Object.values(CloseCode)) t.ok(documented.includes(String(code)), `${code} is documented`)
})

t.test('every refusal of the upgrade gate has its FRT code in the protocol doc', async (t) => {
  const documented = protocol.slice(protocol.indexOf('| status | code |')).split('\n\n')[0] ?? ''
  const refusalCodes = ['FRT_ORIGIN_FORBIDDEN', 'FRT_SESSION_REQUIRED', 'FRT_TOKEN_INVALID', 'FRT_HANDSHAKE_RATE', 'FRT_TOO_MANY_CONNECTIONS_PER_IP', 'FRT_SERVER_FULL', 'FRT_DRAINING', 'FRT_SERVER_BUSY']
  t.equal(Object.keys(UpgradeRefusal).length, refusalCodes.length, 'one coded error per refusal reason')
  for (const code of refusalCodes) {
    t.ok(code in errorCodes, `${code} is in errorCodes`)
    t.match(documented, `\`${code}\``, `${code} is documented`)
  }
})

t.test('the codes of a new connection\'s request and of an event stream\'s POSTs are in the protocol doc', async (t) => {
  for (const code of ['FRT_INVALID_CHANNEL_LIST', 'FRT_STREAM_NOT_FOUND', 'FRT_STREAM_FORBIDDEN']) {
    t.ok(code in errorCodes, `${code} is in errorCodes`)
    t.match(protocol, `| \`${code}\` |`, `${code} is in a table of the protocol doc`)
  }
})

t.test('no code is a bare string outside src/errors.ts', async (t) => {
  const codes = [...Object.values(ClientErrorCode), ...Object.keys(errorCodes)]
  const offenders: string[] = []
  for (const file of librarySources()) {
    if (file.endsWith(join('src', 'errors.ts'))) continue
    const text = readFileSync(file, 'utf8')
    for (const code of codes) if (text.includes(`'${code}'`)) offenders.push(`${relative(packageRoot, file)}: '${code}'`)
  }
  t.same(offenders, [])
})
