/**
 * Client IP resolution. Fastify's `request.ip` already applies `trustProxy` (proxy-addr):
 * `X-Forwarded-For` is honoured only when the peer is a configured proxy. Here we only pick that
 * value and normalise it, so the whole project reads the IP one way.
 */
import type { FastifyRequest } from 'fastify'

const IPV4_MAPPED_PREFIX = '::ffff:'
const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/

/**
 * Normalise an address: IPv4-mapped IPv6 (`::ffff:127.0.0.1`) becomes plain IPv4 (`127.0.0.1`),
 * so one client is counted and logged under one address whatever socket family it arrived on.
 * @param address - an IPv4 or IPv6 address as Node reports it
 * @returns the normalised address
 */
export function normalizeIp (address: string): string {
  const lower = address.toLowerCase()
  if (lower.startsWith(IPV4_MAPPED_PREFIX)) {
    const rest = lower.slice(IPV4_MAPPED_PREFIX.length)
    if (DOTTED_QUAD.test(rest)) return rest
  }
  return lower
}

/**
 * The client IP of a request: the trusted-proxy-aware `request.ip`, falling back to the socket's
 * peer address, normalised. Never reads `X-Forwarded-For` itself.
 * @param request - the Fastify request (an upgrade request resolves exactly like HTTP)
 * @returns the client's address, or `'unknown'` when the socket has none (an injected request)
 */
export function clientIp (request: FastifyRequest): string {
  // request.ip is undefined for injectWS without a remoteAddress; the socket may be gone already.
  const address = request.ip ?? request.socket?.remoteAddress
  return address ? normalizeIp(address) : 'unknown'
}
