/**
 * The old path of protocols/ours/channel-list.ts, kept only while src/plugin.ts (rewritten on
 * another branch of the same issue) still imports it; delete it once that branch has merged and
 * imports the new path. Nothing else imports it.
 */
export * from '../protocols/ours/channel-list.js'
