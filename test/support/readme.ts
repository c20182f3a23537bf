import { readFileSync } from 'node:fs'

// A README starts with (or shows) a working example; its tests keep that example as a file they
// run. This reads both, ignoring only formatting, so a test can assert the README cannot drift
// from the tested code.

function firstTsBlock(markdownPath: string): string | undefined {
  return /```ts\n([\s\S]*?)```/.exec(readFileSync(markdownPath, 'utf8'))?.[1]
}

/** Code with whitespace and trailing commas removed: equal when only the formatting differs. */
function normaliseCode(code: string): string {
  return code.replace(/\s+/g, '').replace(/,(?=[}\])])/g, '')
}

/** The first ```ts block of `readmePath` and the file `examplePath`, both normalised. */
function readmeAndExample(readmePath: string, examplePath: string): { readme?: string; example: string } {
  const block = firstTsBlock(readmePath)
  return {
    readme: block === undefined ? undefined : normaliseCode(block),
    example: normaliseCode(readFileSync(examplePath, 'utf8')),
  }
}

/** Asserts that the first ```ts block of `readmePath` is the code of `examplePath`, formatting aside. */
export function expectReadmeExample(readmePath: string, examplePath: string): void {
  const { readme, example } = readmeAndExample(readmePath, examplePath)
  expect(readme).toBeDefined()
  expect(readme).toBe(example)
}
