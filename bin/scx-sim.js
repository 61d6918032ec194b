#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so `npx scx-sim` works straight after
// `npm ci` with no build step and the sources stay the only copy of the code.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
