// What the demo prints and writes: one row per strategy, as a terminal table and as Markdown, and
// an SVG chart of token requests over time (hand-written SVG: a log scale, one step line each).
import { LABELS, type Strategy } from './strategies'

export interface Row {
  strategy: Strategy
  runtimeMs: number
  invocations: number
  tokenRequests: number
  /** Arrival times of the token requests, in ms from the start of the strategy's run. */
  requestTimes: number[]
  storeReads: number
  storeWrites: number
  p50Ms: number
  p99Ms: number
  failed: number
  expiredServed: number
  containersStarted: number
  /** Invocations whose token call waited for a token request. */
  waitedOnIdp: number
}

const MONTH_S = 30 * 24 * 3_600
const n = (x: number) => Math.round(x).toLocaleString('en-US')
const usd = (x: number) =>
  `$${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`

/** Token requests a month if the strategy ran like this for 30 days, times the price per 1,000. */
export function monthlyCost(row: Row, pricePer1000: number): number {
  return ((row.tokenRequests / (row.runtimeMs / 1000)) * MONTH_S * pricePer1000) / 1000
}

/**
 * The table's cells, headers first: the same for the terminal and for Markdown.
 *
 * @example
 * ```ts
 * const [header, ...body] = cells(rows, 2.25)
 * ```
 */
export function cells(rows: Row[], pricePer1000: number): string[][] {
  // Savings are against a fetch per invocation, when it ran.
  const baseline = rows.find((r) => r.strategy === 'per-invocation')
  const baseCost = baseline ? monthlyCost(baseline, pricePer1000) : 0
  return [
    [
      'strategy',
      'invocations',
      'cold starts',
      'token requests',
      'waited on IdP',
      'per 1,000 inv.',
      'store reads',
      'store writes',
      'p50 ms',
      'p99 ms',
      'failed',
      'expired served',
      'cost / month',
      'saving vs per invocation',
    ],
    ...rows.map((r) => {
      const cost = monthlyCost(r, pricePer1000)
      return [
        LABELS[r.strategy],
        n(r.invocations),
        n(r.containersStarted),
        n(r.tokenRequests),
        n(r.waitedOnIdp),
        ((r.tokenRequests / Math.max(1, r.invocations)) * 1000).toFixed(1),
        n(r.storeReads),
        n(r.storeWrites),
        r.p50Ms.toFixed(1),
        r.p99Ms.toFixed(1),
        n(r.failed),
        n(r.expiredServed),
        usd(cost),
        !baseline || r === baseline ? '-' : `${((1 - cost / baseCost) * 100).toFixed(1)}%`,
      ]
    }),
  ]
}

/** The table aligned for a terminal: text left, numbers right. */
export function terminalTable(table: string[][]): string[] {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  return table.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
  )
}

/** The table as GitHub Markdown. */
export function markdownTable(table: string[][]): string[] {
  const [header, ...body] = table
  return [
    `| ${header!.join(' | ')} |`,
    `| ${header!.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((row) => `| ${row.join(' | ')} |`),
  ]
}

const COLORS: Record<Strategy, string> = {
  'per-invocation': '#d62728',
  'per-container': '#ff7f0e',
  blog: '#9467bd',
  tokenstash: '#2ca02c',
  'tokenstash-warmer': '#1f77b4',
}

/** The chart's size and the margins around its plot area (the legend sits in the right one), in px. */
const CHART = { width: 820, height: 400, left: 64, right: 250, top: 36, bottom: 48 }

/**
 * Cumulative token requests over time per strategy, log scale, as an SVG document.
 *
 * @example
 * ```ts
 * writeFileSync('token-requests.svg', svgChart(rows))
 * ```
 */
export function svgChart(rows: Row[]): string {
  const { width: W, height: H, left, right, top, bottom } = CHART
  const maxT = Math.max(...rows.map((r) => r.runtimeMs)) / 1000
  const maxY = Math.max(10, ...rows.map((r) => r.tokenRequests))
  const decades = Math.ceil(Math.log10(maxY))
  const x = (s: number) => left + (s / maxT) * (W - left - right)
  // log10(1 + y): 0 sits on the axis, 1 just above it.
  const y = (v: number) => H - bottom - (Math.log10(1 + v) / decades) * (H - top - bottom)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Token requests at the OAuth2 server over time (cumulative, log scale)</text>`,
  ]
  for (let d = 0; d <= decades; d++) {
    const v = 10 ** d
    out.push(
      `<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${n(v)}</text>`,
    )
  }
  const step = maxT > 30 ? 10 : maxT > 10 ? 2 : 1
  for (let s = 0; s <= maxT + 1e-9; s += step) {
    out.push(
      `<line x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="${H - bottom}" y2="${H - bottom + 4}" stroke="#333"/>`,
      `<text x="${x(s).toFixed(1)}" y="${H - bottom + 18}" text-anchor="middle">${s}</text>`,
    )
  }
  out.push(
    `<line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="#333"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="#333"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 10}" text-anchor="middle">seconds since the strategy's first invocation</text>`,
  )
  rows.forEach((r, i) => {
    const points = [`${x(0).toFixed(1)},${y(0).toFixed(1)}`]
    r.requestTimes.forEach((t, k) => {
      const tx = x(Math.min(t, r.runtimeMs) / 1000).toFixed(1)
      points.push(`${tx},${y(k).toFixed(1)}`, `${tx},${y(k + 1).toFixed(1)}`)
    })
    points.push(`${x(r.runtimeMs / 1000).toFixed(1)},${y(r.tokenRequests).toFixed(1)}`)
    const color = COLORS[r.strategy]
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`,
      `<rect x="${W - right + 16}" y="${top + 10 + i * 22}" width="14" height="4" fill="${color}"/>`,
      `<text x="${W - right + 36}" y="${top + 16 + i * 22}">${LABELS[r.strategy]}: ${n(r.tokenRequests)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/**
 * The line that says how many token requests tokenstash should need at most, and why: one for the
 * first cold start, then one per refresh, fleet-wide (every container shares the store), a refresh
 * falling due after 0.75 of a token's lifetime.
 *
 * @example
 * ```ts
 * targetLines(row, 4) // ['tokenstash: 5 token requests in 12.0 s of traffic; ...', ...]
 * ```
 */
export function targetLines(ours: Row, lifetimeS: number): string[] {
  const runtimeS = ours.runtimeMs / 1000
  const interval = 0.75 * lifetimeS
  const bound = runtimeS / interval + 1
  return [
    `tokenstash: ${ours.tokenRequests} token requests in ${runtimeS.toFixed(1)} s of traffic (wall clock).`,
    `  The most it should need: 1 for the first cold start, then 1 per refresh for the whole fleet (the containers`,
    `  share the store), a refresh every 0.75 × the ${lifetimeS} s token lifetime = ${interval.toFixed(1)} s: ${runtimeS.toFixed(1)} / ${interval.toFixed(1)} + 1 = ${bound.toFixed(1)}.`,
  ]
}

/**
 * Progress lines worth printing: one whose counters changed since the last printed one, and never
 * one before the first invocation ("t=3s invocations 0" says nothing).
 *
 * @example
 * ```ts
 * const keep = progressFilter()
 * keep({ invocations: 0, tokenRequests: 0, containers: 0 }) // false
 * ```
 */
export function progressFilter(): (counters: {
  invocations: number
  tokenRequests: number
  containers: number
}) => boolean {
  let last = ''
  return (counters) => {
    if (counters.invocations === 0) return false
    const key = `${counters.invocations}/${counters.tokenRequests}/${counters.containers}`
    if (key === last) return false
    last = key
    return true
  }
}

/** "1 min 38 s", "42 s": a wall-clock duration as a person reads it. */
export function elapsed(ms: number): string {
  const s = Math.round(ms / 1000)
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`
}
