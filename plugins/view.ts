/**
 * Server-rendered pages (@fastify/view + Pug, from views/) and browser assets
 * (@fastify/static: public/ under /public/, the built browser client under /client/, and with
 * the demo's Pusher app pusher-js's web build under /vendor/pusher-js/).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import fastifyStatic from '@fastify/static'
import fastifyView from '@fastify/view'
import fp from 'fastify-plugin'
import pug from 'pug'
import type { FastifyInstance } from 'fastify'
import { packageRoot } from '../src/app/paths.js'

async function view (fastify: FastifyInstance): Promise<void> {
  const production = fastify.config.nodeEnv === 'production'
  await fastify.register(fastifyView, {
    engine: { pug },
    root: join(packageRoot, 'views'),
    // Templates are compiled once and cached in production, re-read on every render in development.
    production
  })
  await fastify.register(fastifyStatic, {
    root: join(packageRoot, 'public'),
    prefix: '/public/',
    maxAge: production ? '1d' : 0,
    immutable: production
  })
  // The browser client as the package publishes it (`fastify-realtime/client`), built by
  // `npm run build`: the page loads the very file other apps install.
  await fastify.register(fastifyStatic, {
    root: join(packageRoot, 'dist', 'src', 'client'),
    prefix: '/client/',
    decorateReply: false,
    allowedPath: (path) => path.endsWith('.js'),
    maxAge: production ? '1d' : 0
  })
  // With the demo's Pusher app, the page's Pusher panel loads pusher-js's own web build, as a
  // page of an app built for Pusher would (a devDependency: the demo is never published).
  if (fastify.config.pusherApp !== undefined) {
    await fastify.register(fastifyStatic, {
      root: pusherJsWebBuild(),
      prefix: '/vendor/pusher-js/',
      decorateReply: false,
      allowedPath: (path) => path === '/pusher.min.js',
      maxAge: production ? '1d' : 0
    })
  }
}

/** The folder of pusher-js's web build, wherever the package manager put pusher-js. */
function pusherJsWebBuild (): string {
  return join(dirname(createRequire(import.meta.url).resolve('pusher-js/package.json')), 'dist', 'web')
}

export default fp(view, { name: 'view', fastify: '5.x' })
