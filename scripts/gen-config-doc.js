#!/usr/bin/env node
// Writes docs/configuration.md from the schema. Run through `npm run docs` (it builds first).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../dist/src/config/reference.js';
import { registerPassdbDrivers } from '../dist/src/drivers.js';

// The drivers the composition root adds (imap) belong in the reference too.
registerPassdbDrivers();

const out = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
writeFileSync(out, renderConfigReference());
process.stdout.write(`wrote ${out}\n`);
