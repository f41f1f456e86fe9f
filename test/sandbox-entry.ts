// One node process runs every sandbox test file (node takes seconds to start inside the sandbox).
// scripts/test.js passes the compiled test files' paths after this module's. Each file is imported
// inside a suite of its own: node:test attaches top-level before/after hooks to the enclosing suite,
// so without one, every file's before() would run ahead of the first file's tests (and one file's
// kernel reset would wipe another's state).
import { describe } from 'node:test';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const files = process.argv.slice(2).filter((a) => a.endsWith('.test.js'));
for (const f of files) {
  describe(basename(f, '.test.js'), async () => {
    await import(pathToFileURL(f).href);
  });
}
