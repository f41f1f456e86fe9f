// Writes docs/configuration.md from the settings table: node dist/scripts/config-docs.js
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configurationDoc } from '../src/config/docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
writeFileSync(join(root, 'docs', 'configuration.md'), configurationDoc());
