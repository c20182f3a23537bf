import { readFileSync } from 'node:fs'

// A package README starts with a working example; its tests keep that example as a file they run.
// These two compare them, ignoring only formatting, so the README cannot drift from the tested code.

/** The first ```ts block of a markdown file. */
export function firstTsBlock(markdownPath: string): string | undefined {
  return /```ts\n([\s\S]*?)```/.exec(readFileSync(markdownPath, 'utf8'))?.[1]
}

/** Code with whitespace and trailing commas removed: equal when only the formatting differs. */
export function normaliseCode(code: string): string {
  return code.replace(/\s+/g, '').replace(/,(?=[}\])])/g, '')
}
