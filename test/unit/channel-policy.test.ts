import t from 'tap'
import { ChannelRegistry, CHANNEL_FIELDS, isChannelName, resolveChannel, resolveChannels } from '../../src/channels/policy.js'
import { resolveOptions } from '../../src/options.js'
import { MemoryAdapter } from '../../src/adapters/memory.js'

t.test('declarations get their defaults and are frozen', async (t) => {
  const policy = resolveChannel({ name: 'chat' }, 0)
  t.match(policy, { name: 'chat', clientPublish: false, historySize: 0, historyTtlMs: CHANNEL_FIELDS.historyTtlMs.default, presence: false })
  t.equal(policy.onClientPublish, undefined)
  t.equal(await policy.canSubscribe({ channel: 'chat', connection: {} as never, visitor: null, request: undefined }), true, 'anyone may subscribe by default')
  t.ok(Object.isFrozen(policy))
})

t.test('bad declarations are refused with the path of the field', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    ['chat', /"channels\[0\]": expected an object/],
    [{}, /"channels\[0\]\.name"/],
    [{ name: 'has space' }, /"channels\[0\]\.name"/],
    [{ name: 'x'.repeat(129) }, /"channels\[0\]\.name"/],
    [{ name: 'c', historySize: -1 }, /"channels\[0\]\.historySize": expected an integer from 0 to 10000/],
    [{ name: 'c', historySize: 1.5 }, /historySize/],
    [{ name: 'c', historyTtlMs: 10 }, /historyTtlMs/],
    [{ name: 'c', presence: 'yes' }, /"channels\[0\]\.presence": expected true or false/],
    [{ name: 'c', clientPublish: 1 }, /clientPublish/],
    [{ name: 'c', canSubscribe: true }, /"channels\[0\]\.canSubscribe": expected a function/],
    [{ name: 'c', onClientPublish: () => 1 }, /onClientPublish.*clientPublish is false/],
    [{ name: 'c', history: 10 }, /"channels\[0\]\.history": unknown field/]
  ]
  for (const [definition, message] of bad) {
    t.throws(() => resolveChannel(definition, 0), { code: 'FRT_INVALID_OPTION', message }, JSON.stringify(definition))
  }
  t.throws(() => resolveChannels({ name: 'chat' }), { code: 'FRT_INVALID_OPTION', message: /expected an array/ })
  t.throws(() => resolveChannels([{ name: 'a' }, { name: 'a' }]), { message: /"channels\[1\]\.name": "a" is declared twice/ })
})

t.test('the registry matches exact names first, then patterns in declaration order', async (t) => {
  const registry = new ChannelRegistry([
    resolveChannel({ name: 'room:*', historySize: 1 }, 0),
    resolveChannel({ name: 'room:lobby', historySize: 2 }, 1),
    resolveChannel({ name: 'room:*:private', historySize: 3 }, 2),
    resolveChannel({ name: 'a.b' }, 3)
  ])
  t.equal(registry.size, 4)
  t.equal(registry.match('room:lobby')?.historySize, 2, 'exact beats pattern')
  t.equal(registry.match('room:42')?.historySize, 1)
  t.equal(registry.match('room:42:private')?.historySize, 1, 'the first matching pattern wins')
  t.equal(registry.match('rooms'), undefined)
  t.equal(registry.match('aXb'), undefined, 'dots are literal')
  t.equal(registry.match('room:bad name'), undefined, 'invalid names never match')
  t.equal(registry.match('room:*'), undefined, 'a pattern is not a channel name')
  t.ok(isChannelName('user:42/inbox@eu$1'))
  t.notOk(isChannelName(''))
})

t.test('plugin options: channel settings are validated', async (t) => {
  const options = resolveOptions({ channels: [{ name: 'chat' }] })
  t.equal(options.maxSubscriptionsPerConnection, 128)
  t.equal(options.presenceTtlMs, 30_000)
  t.equal(options.adapter, undefined, 'the plugin picks the memory adapter')
  t.equal(options.channels.match('chat')?.name, 'chat')
  t.throws(() => resolveOptions({ maxSubscriptionsPerConnection: 0 }), { code: 'FRT_INVALID_OPTION', message: /maxSubscriptionsPerConnection/ })
  t.throws(() => resolveOptions({ presenceTtlMs: 10 }), { message: /presenceTtlMs/ })
  t.throws(() => resolveOptions({ adapter: {} as never }), { message: /"adapter": missing method\(s\) init, publish/ })
  const adapter = new MemoryAdapter()
  t.equal(resolveOptions({ adapter }).adapter, adapter)
})
