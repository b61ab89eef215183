/**
 * A dependency-free SVG chart of the ratios (ours / baseline): one horizontal bar per measure,
 * a line at 1.0 (parity with plain ws), and the target marked where the issue sets one.
 */

const WIDTH = 900
const ROW = 22
const LEFT = 360
const MAX_RATIO = 2

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The ratio a target sets (`≤ 0.3×` → 0.3, `≤ baseline` → 1), or null when it sets none. */
function targetRatioOf (target) {
  if (target === '≤ baseline') return 1
  const match = /^≤ (\d+(?:\.\d+)?)×$/.exec(target)
  return match === null ? null : Number(match[1])
}

/** Render the chart for the rows that have a ratio and a cost meaning (lower is better). */
export function renderChart (summary, rows) {
  const shown = rows.filter((r) => r.ratio !== null && /per|p99|p50|CPU/.test(r.measure))
  const top = 60
  const height = top + shown.length * ROW + 50
  const scale = (WIDTH - LEFT - 60) / MAX_RATIO
  const x = (ratio) => LEFT + Math.min(ratio, MAX_RATIO) * scale
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    '<text x="10" y="20" font-size="15" font-weight="bold">fastify-realtime vs plain ws: ours / baseline (lower is better)</text>',
    `<text x="10" y="40" fill="#555">${escape(summary.command)} · ${escape(summary.date.slice(0, 16))} · ${summary.machine.cpus}× ${escape(summary.machine.cpuModel)}, Node ${escape(summary.machine.node)}</text>`
  ]
  shown.forEach((r, i) => {
    const y = top + i * ROW
    const color = r.met === false ? '#e07b39' : r.met === true ? '#3a9d5d' : '#6b8fc7'
    parts.push(`<text x="${LEFT - 8}" y="${y + 14}" text-anchor="end">${escape(r.measure)}</text>`)
    parts.push(`<rect x="${LEFT}" y="${y + 3}" width="${Math.max(1, x(r.ratio) - LEFT).toFixed(1)}" height="${ROW - 7}" fill="${color}"/>`)
    parts.push(`<text x="${(x(r.ratio) + 4).toFixed(1)}" y="${y + 14}">${r.ratio.toFixed(2)}×${r.ratio > MAX_RATIO ? ' →' : ''}</text>`)
    const targetRatio = targetRatioOf(r.target)
    if (targetRatio !== null) parts.push(`<line x1="${x(targetRatio)}" x2="${x(targetRatio)}" y1="${y + 1}" y2="${y + ROW - 2}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`)
  })
  const bottom = top + shown.length * ROW
  parts.push(`<line x1="${x(1)}" x2="${x(1)}" y1="${top - 4}" y2="${bottom}" stroke="#999"/>`)
  for (const tick of [0, 0.5, 1, 1.5, 2]) parts.push(`<text x="${x(tick)}" y="${bottom + 16}" text-anchor="middle" fill="#555">${tick}×</text>`)
  parts.push(`<text x="10" y="${bottom + 38}" fill="#555">green: target met · orange: target missed · blue: no target · dashed: target · grey line: parity with plain ws</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
