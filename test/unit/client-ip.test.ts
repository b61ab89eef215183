import t from 'tap'
import Fastify from 'fastify'
import { clientIp, normalizeIp } from '../../src/upgrade/client-ip.js'

t.test('normalizeIp maps IPv4-mapped IPv6 to IPv4 and leaves the rest', async (t) => {
  t.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1')
  t.equal(normalizeIp('::FFFF:10.1.2.3'), '10.1.2.3')
  t.equal(normalizeIp('::1'), '::1')
  t.equal(normalizeIp('2001:DB8::1'), '2001:db8::1')
  t.equal(normalizeIp('::ffff:abcd'), '::ffff:abcd', 'not a dotted quad: left as IPv6')
  t.equal(normalizeIp('203.0.113.9'), '203.0.113.9')
})

async function ipSeenBy (trustProxy: string[] | false, remoteAddress: string, forwardedFor?: string): Promise<string> {
  const app = Fastify({ trustProxy })
  app.get('/ip', async (request) => ({ ip: clientIp(request) }))
  const headers: Record<string, string> = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }
  const response = await app.inject({ url: '/ip', remoteAddress, headers })
  await app.close()
  return (response.json() as { ip: string }).ip
}

t.test('without a trusted proxy a spoofed X-Forwarded-For is ignored', async (t) => {
  t.equal(await ipSeenBy(false, '198.51.100.7', '6.6.6.6'), '198.51.100.7')
  t.equal(await ipSeenBy(false, '::ffff:198.51.100.7', '6.6.6.6, 7.7.7.7'), '198.51.100.7', 'and the socket address is normalised')
})

t.test('behind a trusted proxy the address the proxy saw is used', async (t) => {
  t.equal(await ipSeenBy(['127.0.0.1'], '127.0.0.1', '6.6.6.6, 7.7.7.7'), '7.7.7.7', 'the entry the trusted proxy appended, not what the client wrote')
  t.equal(await ipSeenBy(['10.0.0.0/8'], '10.1.2.3', '203.0.113.5'), '203.0.113.5', 'CIDR ranges work')
  t.equal(await ipSeenBy(['10.0.0.0/8'], '10.1.2.3', '::ffff:203.0.113.5'), '203.0.113.5', 'forwarded IPv4-mapped addresses are normalised')
})

t.test('a peer that is not the configured proxy cannot forge its address', async (t) => {
  t.equal(await ipSeenBy(['10.0.0.1'], '198.51.100.7', '6.6.6.6'), '198.51.100.7')
})

t.test('no address at all reads as unknown', async (t) => {
  const app = Fastify()
  app.get('/ip', async (request) => {
    Object.defineProperty(request, 'ip', { value: undefined })
    Object.defineProperty(request.raw, 'socket', { value: { remoteAddress: undefined } })
    return { ip: clientIp(request) }
  })
  const response = await app.inject({ url: '/ip' })
  await app.close()
  t.equal((response.json() as { ip: string }).ip, 'unknown')
})
