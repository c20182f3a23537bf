#!/usr/bin/env node
// Committed so that the bin exists before `pnpm install` links it (a fresh clone has no dist/ yet);
// the CLI itself is built by tsup to dist/cli.cjs.
require('../dist/cli.cjs')
