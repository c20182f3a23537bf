/** The ways a fleet gets its bearer token, in the order the demo runs them. */
export const STRATEGIES = [
  'per-invocation',
  'per-container',
  'blog',
  'tokenstash',
  'tokenstash-warmer',
] as const
export type Strategy = (typeof STRATEGIES)[number]

/** How each strategy is named in the demo's output. */
export const LABELS: Record<Strategy, string> = {
  'per-invocation': 'fetch per invocation',
  'per-container': 'cache per container',
  blog: 'blog: DynamoDB Scan',
  tokenstash: 'tokenstash',
  'tokenstash-warmer': 'tokenstash + warmer',
}
