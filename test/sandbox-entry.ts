// One node process runs every sandbox test file (node takes seconds to start inside the sandbox).
// scripts/test.js passes the compiled test files' paths after this module's; importing them
// registers their tests with node:test, which runs them one after another.
import { pathToFileURL } from 'node:url';

const files = process.argv.slice(2).filter((a) => a.endsWith('.test.js'));
for (const f of files) await import(pathToFileURL(f).href);
