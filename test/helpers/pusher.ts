/**
 * The real Pusher clients against a node of ours: pusher-js (its Node build, unmodified) with the
 * options a self-hosted server needs, authorised by the `pusher` server SDK's own signing
 * (`authorizeChannel`, `authenticateUser`), as an app's auth endpoint would answer.
 */
import { createHash } from 'node:crypto'
import pusherJs from 'pusher-js'
import PusherSdk from 'pusher'

/**
 * pusher-js's class. Its Node build is CommonJS whose `module.exports` IS the class, while its
 * typings declare it as the default export: under Node's ESM interop the default import is that
 * `module.exports`, so it is the class, typed as its typings' `default`.
 */
type PusherClass = typeof pusherJs.default
export const PusherJs = pusherJs as unknown as PusherClass
/** A pusher-js client. */
export type Pusher = InstanceType<PusherClass>

/** One test app's credentials. */
export const APP = Object.freeze({ id: '1001', key: 'app-key', secret: 'app-secret-0123456789' })
/** A second app on the same node. */
export const APP2 = Object.freeze({ id: '1002', key: 'other-key', secret: 'other-secret-0123456789' })
/** The encryption master key of the SDK (32 bytes, base64). */
export const MASTER_KEY_BASE64 = Buffer.alloc(32, 7).toString('base64')

/** The `pusher` server SDK for an app (signs channel auth and user sign-in). */
export function serverSdk (app: { id: string, key: string, secret: string } = APP): PusherSdk {
  return new PusherSdk({ appId: app.id, key: app.key, secret: app.secret, cluster: 'local', encryptionMasterKeyBase64: MASTER_KEY_BASE64 })
}

/** Presence data each client signs for itself. */
export interface Member { user_id: string, user_info?: Record<string, unknown> }

/** What a client is made with. */
export interface ClientOptions {
  app?: { id: string, key: string, secret: string }
  /** The presence member this client signs as. */
  member?: Member
  /** The user this client signs in as (`pusher.signin()`). */
  user?: { id: string, [field: string]: unknown }
}

/**
 * A pusher-js client for the node on `port`: wsHost/wsPort/forceTLS/enabledTransports as the
 * docs' quick start says, channel auth and user sign-in signed by the server SDK.
 */
export function pusherClient (port: number, options: ClientOptions = {}): Pusher {
  const app = options.app ?? APP
  const sdk = serverSdk(app)
  return new PusherJs(app.key, {
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        callback(null, channelName.startsWith('presence-') ? sdk.authorizeChannel(socketId, channelName, options.member ?? { user_id: 'anonymous' }) : sdk.authorizeChannel(socketId, channelName))
      }
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        callback(null, sdk.authenticateUser(socketId, options.user ?? { id: 'nobody' }))
      }
    }
  })
}

/** Resolves with the first `event` the emitter emits (pusher-js's `bind`/`unbind`). */
export async function nextEvent<T = unknown> (emitter: { bind: (event: string, callback: (data: T) => void) => unknown, unbind: (event: string, callback: (data: T) => void) => unknown }, event: string): Promise<T> {
  return await new Promise((resolve) => {
    const once = (data: T): void => {
      emitter.unbind(event, once)
      resolve(data)
    }
    emitter.bind(event, once)
  })
}

/** Resolves once the client is connected, with its socket id. */
export async function connected (client: Pusher): Promise<string> {
  if (client.connection.state === 'connected') return client.connection.socket_id
  await new Promise<void>((resolve) => {
    const onState = ({ current }: { current: string }): void => {
      if (current !== 'connected') return
      client.connection.unbind('state_change', onState)
      resolve()
    }
    client.connection.bind('state_change', onState)
  })
  return client.connection.socket_id
}

/** Resolves once the client's connection reaches `state`. */
export async function reachState (client: Pusher, state: string): Promise<void> {
  if (client.connection.state === state) return
  await new Promise<void>((resolve) => {
    const onState = ({ current }: { current: string }): void => {
      if (current !== state) return
      client.connection.unbind('state_change', onState)
      resolve()
    }
    client.connection.bind('state_change', onState)
  })
}

/** The key of an encrypted channel's payloads, as the SDK derives it: sha256(channel name + master key). */
export function channelSharedSecret (channel: string): Buffer {
  return createHash('sha256').update(Buffer.concat([Buffer.from(channel), Buffer.from(MASTER_KEY_BASE64, 'base64')])).digest()
}
