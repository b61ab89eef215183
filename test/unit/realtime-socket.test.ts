import t from 'tap'
import type { RawData } from 'ws'
import { RealtimeSocket, type SocketEventSink } from '../../src/transports/realtime-socket.js'

/** A sink that records what it was handed. */
function recordingSink (): SocketEventSink & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    socketMessage: (data: RawData, isBinary: boolean) => { seen.push(`message:${data.toString()}:${isBinary}`) },
    socketPong: () => { seen.push('pong') },
    socketError: (error: Error) => { seen.push(`error:${error.message}`) },
    socketClose: (code: number, reason: Buffer) => { seen.push(`close:${code}:${reason.toString()}`) }
  }
}

/**
 * A server-side socket that is not attached to any TCP stream: ws's server constructs its
 * sockets with a null address (websocket-server.js); the typings only describe the client form.
 */
function detachedSocket (): RealtimeSocket {
  return new RealtimeSocket(null as unknown as string, undefined, {})
}

t.test('events go to the sink and to listeners an application added', async (t) => {
  const socket = detachedSocket()
  const sink = recordingSink()
  socket.eventSink = sink
  const heard: string[] = []
  socket.on('message', (data: RawData) => { heard.push(data.toString()) })
  socket.emit('message', Buffer.from('hi'), false)
  socket.emit('pong', Buffer.alloc(0))
  t.same(sink.seen, ['message:hi:false', 'pong'])
  t.same(heard, ['hi'], 'the listener got the message too')
})

t.test('close is handed over once and lets go of the sink', async (t) => {
  const socket = detachedSocket()
  const sink = recordingSink()
  socket.eventSink = sink
  socket.emit('close', 1000, Buffer.from('bye'))
  t.equal(socket.eventSink, null)
  socket.emit('message', Buffer.from('late'), false)
  t.same(sink.seen, ['close:1000:bye'], 'nothing reaches the sink after the close')
})

t.test('an error with no listener never throws; with a listener it is emitted as usual', async (t) => {
  const socket = detachedSocket()
  t.equal(socket.emit('error', new Error('no one listens')), false, 'dropped, not thrown, with neither sink nor listener')
  const sink = recordingSink()
  socket.eventSink = sink
  t.equal(socket.emit('error', new Error('sink only')), true, 'handled by the sink')
  const heard: string[] = []
  socket.on('error', (error: Error) => { heard.push(error.message) })
  socket.emit('error', new Error('both'))
  t.same(sink.seen, ['error:sink only', 'error:both'])
  t.same(heard, ['both'])
})
