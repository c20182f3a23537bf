/**
 * Maps a provider key to its Redis key. Everything before the first '#' is the base key; the
 * base goes inside a hash tag so a provider's entry, its `#lease` and its `#cooldown` share one
 * cluster slot (Lua scripts and the operator's view of one provider stay on one node).
 *
 * @example
 * ```ts
 * redisKey('tokenstash:', 'default:ab12#lease') // 'tokenstash:{default:ab12}#lease'
 * ```
 */
export function redisKey(prefix: string, key: string): string {
  const cut = key.indexOf('#')
  const base = cut === -1 ? key : key.slice(0, cut)
  const rest = cut === -1 ? '' : key.slice(cut)
  return `${prefix}{${base}}${rest}`
}
