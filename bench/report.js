/**
 * Turns the two servers' results into comparable rows (ours / baseline, with the issue's
 * targets) and a Markdown table.
 */

const kb = (bytes) => bytes / 1024

/**
 * @typedef {{ measure: string, unit: string, baseline: number|null, ours: number|null,
 *   ratio: number|null, target: string, met: boolean|null, group: string }} Row
 */

function row (group, measure, unit, baseline, ours, target = '', check = null) {
  const ratio = baseline === null || ours === null || baseline === 0 ? null : ours / baseline
  let met = null
  if (check !== null) met = check(ratio, ours, baseline)
  return { group, measure, unit, baseline, ours, ratio, target, met }
}

/**
 * Rows of the comparison table.
 * @returns {Row[]}
 */
export function buildRows (baseline, ours) {
  const rows = []
  const memMax = Math.max(...ours.memory.steps.map((step) => step.sockets))
  for (const [i, step] of ours.memory.steps.entries()) {
    const base = baseline.memory.steps[i]
    const target = '≤ 1.0×'
    const check = (ratio) => ratio !== null && ratio <= 1.0
    const sampled = step.rssSamples?.length > 1 ? ` (median of ${step.rssSamples.length} servers)` : ''
    rows.push(row('memory', `RSS per idle socket @${step.sockets}${sampled}`, 'KB', kb(base.rssPerSocket), kb(step.rssPerSocket), step.sockets === memMax ? target : '', step.sockets === memMax ? check : null))
    rows.push(row('memory', `heap per idle socket @${step.sockets}${sampled}`, 'KB', kb(base.heapPerSocket), kb(step.heapPerSocket), step.sockets === memMax ? target : '', step.sockets === memMax ? check : null))
  }
  for (const [i, step] of ours.ticks.entries()) {
    const base = baseline.ticks[i]
    const targeted = step.sockets === 5000
    rows.push(row('ticks', `CPU per delivered tick @${step.sockets}×10 Hz`, 'µs', base.cpuUsPerTick, step.cpuUsPerTick, targeted ? '≤ 0.5×' : '', targeted ? (ratio) => ratio !== null && ratio <= 0.5 : null))
    rows.push(row('ticks', `server CPU @${step.sockets}×10 Hz`, '% core', base.cpuPercent, step.cpuPercent))
    rows.push(row('ticks', `ticks delivered @${step.sockets}×10 Hz`, '% of due', 100 * base.deliveredRatio, 100 * step.deliveredRatio))
    rows.push(row('ticks', `tick p50 @${step.sockets}`, 'ms', base.p50Ms, step.p50Ms))
    rows.push(row('ticks', `tick p99 @${step.sockets}`, 'ms', base.p99Ms, step.p99Ms, targeted ? '≤ 10 ms' : '', targeted ? (_ratio, value) => value !== null && value <= 10 : null))
  }
  for (const [i, step] of ours.broadcast.entries()) {
    const base = baseline.broadcast[i]
    const at = `${step.sockets} × 100 × ${step.bytes} B`
    const targeted = step.sockets === 10000
    rows.push(row('broadcast', `CPU per delivered message @${at}`, 'µs', base.cpuUsPerMessage, step.cpuUsPerMessage, targeted ? '≤ 0.5×' : '', targeted ? (ratio) => ratio !== null && ratio <= 0.5 : null))
    rows.push(row('broadcast', `send loop per message @${at}`, 'µs', base.loopUsPerMessage, step.loopUsPerMessage))
    rows.push(row('broadcast', `delivered @${at}`, '%', 100 * base.delivered / base.expected, 100 * step.delivered / step.expected, targeted ? 'all' : '', targeted ? (_ratio, value) => value >= 100 : null))
    rows.push(row('broadcast', `delivered rate @${at}`, 'k msg/s', base.deliveredPerSecond / 1000, step.deliveredPerSecond / 1000))
    rows.push(row('broadcast', `p99 @${at}`, 'ms', base.p99Ms, step.p99Ms, targeted ? '≤ baseline' : '', targeted ? (_ratio, value, baseValue) => value !== null && baseValue !== null && value <= baseValue : null))
  }
  if (ours.fanout && baseline.fanout) rows.push(...buildFanoutRows(baseline.fanout, ours.fanout))
  if (ours.memory.soak && baseline.memory.soak) {
    const a = baseline.memory.soak
    const b = ours.memory.soak
    const at = `${b.sockets} for ${b.durationMs / 1000} s`
    rows.push(row('soak', `sockets dropped @${at}`, '', a.unexpectedCloses + (a.sockets - a.open), b.unexpectedCloses + (b.sockets - b.open), '0', (_ratio, value) => value === 0))
    rows.push(row('soak', `heap growth @${at}`, 'MiB', a.heapGrowthBytes / 1048576, b.heapGrowthBytes / 1048576, '≈ 0', (_ratio, value) => value < 2))
    rows.push(row('soak', `ticks delivered @${at}`, '% of due', 100 * a.ticks / a.expectedTicks, 100 * b.ticks / b.expectedTicks))
    rows.push(row('soak', `server CPU @${at}`, '% core', a.cpuPercent, b.cpuPercent))
  }
  return rows
}

/** The fan-out step the issue sets its targets at. */
const FANOUT_TARGET_SOCKETS = 10000

/** Share of the expected publications that arrived in order (a repeat or a gap is not). */
const inOrderPercent = (step) => 100 * (step.delivered - step.outOfOrder) / Math.max(1, step.expected)

/**
 * Rows of the channel fan-out phase: a burst of publications to N subscribers (the issue's
 * targets at 10k: CPU per delivered publication ≤ 0.3× the plain-ws loop, every publication
 * delivered in order) and a steady rate (judged against the floor, see buildFanoutFloorRows).
 * @returns {Row[]}
 */
export function buildFanoutRows (baseline, ours) {
  const rows = []
  for (const [i, step] of ours.burst.entries()) {
    const base = baseline.burst[i]
    const at = `${step.sockets} subscribers × burst of ${step.published}`
    const targeted = step.sockets === FANOUT_TARGET_SOCKETS
    rows.push(row('fanout', `CPU per delivered publication @${at}`, 'µs', base.cpuUsPerDelivery, step.cpuUsPerDelivery, targeted ? '≤ 0.3×' : '', targeted ? (ratio) => ratio !== null && ratio <= 0.3 : null))
    rows.push(row('fanout', `delivered in order @${at}`, '%', inOrderPercent(base), inOrderPercent(step), targeted ? 'all' : '', targeted ? () => step.allInOrder : null))
    rows.push(row('fanout', `delivered rate @${at}`, 'k pub/s', base.deliveredPerSecond / 1000, step.deliveredPerSecond / 1000))
    rows.push(row('fanout', `publication p50 @${at}`, 'ms', base.p50Ms, step.p50Ms))
    rows.push(row('fanout', `publication p99 @${at}`, 'ms', base.p99Ms, step.p99Ms))
  }
  for (const [i, step] of ours.steady.entries()) {
    const base = baseline.steady[i]
    const at = `${step.sockets} subscribers × ${step.ratePerSec}/s`
    rows.push(row('fanout', `CPU per delivered publication @${at}`, 'µs', base.cpuUsPerDelivery, step.cpuUsPerDelivery))
    rows.push(row('fanout', `server CPU @${at}`, '% core', base.cpuPercent, step.cpuPercent))
    rows.push(row('fanout', `delivered in order @${at}`, '%', inOrderPercent(base), inOrderPercent(step)))
    rows.push(row('fanout', `publication p99 @${at}`, 'ms', base.p99Ms, step.p99Ms))
  }
  return rows
}

/**
 * The fan-out phase's steady rate against its floor (bench/floor-server.js in fan-out mode: one
 * prebuilt write per subscriber per publication). Target at 10k: ours ≤ 1.1× the floor.
 * @returns {{ sockets: number, ratePerSec: number, floor: number, floorInOrder: number,
 *   baseline: number|null, ours: number|null, target: string, met: boolean|null }[]}
 */
export function buildFanoutFloorRows (baseline, ours, floor) {
  return floor.steady.map((step, i) => {
    const mine = ours?.steady[i]?.cpuUsPerDelivery ?? null
    const targeted = step.sockets === FANOUT_TARGET_SOCKETS
    return {
      sockets: step.sockets,
      ratePerSec: step.ratePerSec,
      floor: step.cpuUsPerDelivery,
      floorInOrder: inOrderPercent(step),
      baseline: baseline?.steady[i]?.cpuUsPerDelivery ?? null,
      ours: mine,
      target: targeted ? '≤ 1.1×' : '',
      met: targeted ? mine !== null && mine / step.cpuUsPerDelivery <= 1.1 : null
    }
  })
}

/**
 * The tick phase against its floor (bench/floor-server.js): how far the baseline and ours are
 * from the least any Node server can spend per delivered tick on this machine.
 * @returns {{ sockets: number, floor: number, baseline: number, ours: number }[]}
 */
export function buildFloorRows (baseline, ours, floor) {
  return floor.ticks.map((step, i) => ({
    sockets: step.sockets,
    floor: step.cpuUsPerTick,
    floorDelivered: step.deliveredRatio,
    baseline: baseline.ticks[i]?.cpuUsPerTick ?? null,
    ours: ours.ticks[i]?.cpuUsPerTick ?? null
  }))
}

const ratioText = (a, b) => a === null || b === null || b === 0 ? '–' : `${(a / b).toFixed(2)}×`

/** The fan-out floor's table lines. */
function renderFanoutFloor (fanoutFloorRows) {
  const lines = [
    'The floor of the fan-out phase\'s steady rate (bench/floor-server.js with FANOUT=1: no WebSocket library, each publication framed once and written with one `socket.write` per subscriber):',
    '',
    '| subscribers × publications/s | floor µs per delivered publication | floor delivered in order | floor / baseline | ours / floor | target | met |',
    '|---|---:|---:|---:|---:|---|---|'
  ]
  for (const f of fanoutFloorRows) {
    const met = f.met === null ? '' : f.met ? 'yes' : '**no**'
    lines.push(`| ${f.sockets} × ${f.ratePerSec} | ${fmt(f.floor)} | ${fmt(f.floorInOrder)} % | ${ratioText(f.floor, f.baseline)} | ${ratioText(f.ours, f.floor)} | ${f.target} | ${met} |`)
  }
  return lines
}

function fmt (value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–'
  if (Math.abs(value) >= 100) return value.toFixed(0)
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

/** The Markdown table, with the command and the machine, and the tick and fan-out floors when measured. */
export function renderMarkdown (summary, rows, floorRows = [], fanoutFloorRows = []) {
  const { machine } = summary
  const lines = [
    `Command: \`${summary.command}\` · ${summary.date} · ${machine.cpus}× ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}, loopback`,
    '',
    '| measure | unit | baseline (plain ws) | ours | ours / baseline | target | met |',
    '|---|---|---:|---:|---:|---|---|'
  ]
  for (const r of rows) {
    const met = r.met === null ? '' : r.met ? 'yes' : '**no**'
    lines.push(`| ${r.measure} | ${r.unit} | ${fmt(r.baseline)} | ${fmt(r.ours)} | ${r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`} | ${r.target} | ${met} |`)
  }
  const sampled = (kind) => summary.results[kind]?.memory?.steps.at(-1)
  const base = sampled('baseline')
  const ours = sampled('ours')
  if (base?.rssSamples?.length > 1 && ours?.rssSamples?.length > 1) {
    const list = (values) => values.map((value) => fmt(kb(value))).join(', ')
    lines.push(
      '',
      `Memory per idle socket at ${ours.sockets}, one sample per fresh server (KB; the table gives the median):`,
      '',
      '| server | RSS samples | heap samples |',
      '|---|---|---|',
      `| baseline (plain ws) | ${list(base.rssSamples)} | ${list(base.heapSamples)} |`,
      `| ours | ${list(ours.rssSamples)} | ${list(ours.heapSamples)} |`
    )
  }
  if (floorRows.length > 0) {
    lines.push(
      '',
      'The floor of the tick phase (bench/floor-server.js: no WebSocket library, one `socket.write` of a frame built once per 5 ms slot; what no server can go below):',
      '',
      '| sockets × 10 Hz | floor µs per delivered tick | floor delivered | floor / baseline | ours / floor |',
      '|---|---:|---:|---:|---:|'
    )
    for (const f of floorRows) {
      lines.push(`| ${f.sockets} | ${fmt(f.floor)} | ${fmt(100 * f.floorDelivered)} % | ${ratioText(f.floor, f.baseline)} | ${ratioText(f.ours, f.floor)} |`)
    }
  }
  if (fanoutFloorRows.length > 0) lines.push('', ...renderFanoutFloor(fanoutFloorRows))
  if (summary.results.ours?.storm) lines.push('', renderStorm(summary.results.ours.storm))
  return lines.join('\n') + '\n'
}

/**
 * The reconnect storm's table (bench/storm.js): per cut, time to recover and the node's CPU; then
 * delivery per kind of client.
 */
export function renderStorm (storm) {
  const lines = [
    `Reconnect storm: ${storm.clients} clients (a third each: WebSocket with \`since\`, bare WebSocket with a resume token, event stream with Last-Event-ID) on ${storm.channels} channels, ${storm.plan.ratePerSec} publications/s each, one node on Redis:`,
    '',
    '| cut | clients recovered | time to recover p50 | p95 | max | node CPU during the storm | most waiting for admission |',
    '|---|---:|---:|---:|---:|---:|---:|'
  ]
  for (const cut of storm.cuts) {
    lines.push(`| ${cut.label} | ${cut.recovered} / ${storm.clients} | ${cut.p50Ms} ms | ${cut.p95Ms} ms | ${cut.maxMs} ms | ${cut.cpuPercent.toFixed(0)}% | ${cut.maxAdmissionWaiting} |`)
  }
  lines.push('', '| client | complete (every publication once, in order, or told) | duplicates | missed silently | left behind | channels told `recovered: false` | publications told lost |', '|---|---:|---:|---:|---:|---:|---:|')
  for (const [kind, d] of Object.entries(storm.delivery)) {
    lines.push(`| ${kind} | ${d.complete} / ${d.clients} | ${d.duplicates} | ${d.gaps} | ${d.behind} | ${d.notRecovered ?? 0} | ${d.toldMissed ?? 0} |`)
  }
  return lines.join('\n')
}

const median = (values) => {
  const sorted = values.filter((v) => v !== null && !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * The Pusher phase's tables (bench/pusher-fanout.js, bench/pusher-storm.js): per step, round and
 * measure, Pusher's subscribers against ours on the same node in the same run (target ≤ 1.1×),
 * then the reconnect storm per dialect and cut.
 */
export function renderPusher (summary, fanout, storm) {
  const { machine } = summary
  const lines = [`Command: \`${summary.command}\` · ${summary.date} · ${machine.cpus}× ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}, loopback`]
  if (fanout !== null) {
    lines.push(
      '',
      'Fan-out, one node serving both protocols: N subscribers of Pusher\'s protocol (`/app/<key>`) against N of ours (`/ws`) on the same channel, the same in-process publications, turn about on the same server process (Pusher / ours above 1 means Pusher\'s subscribers cost more; the delivered-rate ratio is inverted so that it reads the same way):',
      '',
      '| subscribers | load | round | CPU µs per delivery, ours | Pusher | Pusher / ours | delivered k/s, ours | Pusher | ours / Pusher | p99 ms, ours | Pusher | in sequence, ours / Pusher |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|'
    )
    for (const r of fanout.ratios) {
      const inSeq = (m) => m.allInOrder ? 'all' : `${m.outOfOrder} out`
      lines.push(`| ${r.sockets} | ${r.kind} | ${r.round} | ${fmt(r.ours.cpuUsPerDelivery)} | ${fmt(r.pusher.cpuUsPerDelivery)} | ${fmt(r.cpu)}× | ${fmt(r.ours.deliveredPerSecond / 1000)} | ${fmt(r.pusher.deliveredPerSecond / 1000)} | ${fmt(r.rate)}× | ${fmt(r.ours.p99Ms)} | ${fmt(r.pusher.p99Ms)} | ${inSeq(r.ours)} / ${inSeq(r.pusher)} |`)
    }
    const cpu = median(fanout.ratios.map((r) => r.cpu))
    const rate = median(fanout.ratios.filter((r) => r.kind.includes('bursts')).map((r) => r.rate))
    const p99 = median(fanout.ratios.map((r) => r.p99))
    const p50 = median(fanout.ratios.filter((r) => !r.kind.includes('bursts')).map((r) => r.ours.p50Ms > 0 ? r.pusher.p50Ms / r.ours.p50Ms : null))
    lines.push(
      '',
      `Median Pusher / ours: server CPU per delivery ${fmt(cpu)}× (target ≤ 1.1×: ${cpu !== null && cpu <= 1.1 ? 'met' : '**not met**'}).`,
      `Also measured, medians: delivered rate in bursts ours / Pusher ${fmt(rate)}×, p99 Pusher / ours ${fmt(p99)}×, p50 at the steady rate Pusher / ours ${fmt(p50)}× (rates and latencies move with the load generator, which shares the 2 cores: read them over several runs).`
    )
  }
  if (storm !== null) {
    lines.push(
      '',
      `Reconnect storm, one node with admission pacing at its default (1000 newcomers/s, burst 200, at most 10 s in line) or lower, ${storm.plan.clients} clients of one protocol on one channel, 5 publications/s: Pusher clients retry as pusher-js does (a fixed 1 s, at once after 4200), ours as our client does (jittered backoff, the drain's retry hint):`,
      '',
      '| protocol | admission | cut | round | back | time to come back p50 | p95 | max | attempts | upgrades refused | TCP refused | most in line | node CPU | publication p99 meanwhile |',
      '|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|'
    )
    for (const c of storm.cuts) {
      const refused = Object.entries(c.refused).map(([s, n]) => `${n}× ${s}`).join(', ') || '0'
      lines.push(`| ${c.dialect} | ${c.admission} | ${c.label} | ${c.round} | ${c.back} / ${c.clients} | ${c.p50Ms} ms | ${c.p95Ms} ms | ${c.maxMs} ms | ${c.attempts} | ${refused} | ${c.connectErrors} | ${c.maxAdmissionWaiting} | ${c.cpuPercent.toFixed(0)}% | ${c.pubP99Ms ?? '–'} ms |`)
    }
  }
  return lines.join('\n') + '\n'
}
