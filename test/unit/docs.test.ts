// The docs that describe the code stay true to it: the generated references match what the code prints
// now, and the architecture picture names every folder of src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED } from '../../scripts/docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('docs/cli.md and docs/metrics.md are what the code prints (regenerate: node dist/scripts/docs.js)', () => {
  for (const [file, make] of Object.entries(GENERATED)) {
    assert.equal(readFileSync(join(root, file), 'utf8'), make(), `${file} is stale`);
  }
});

test('docs/architecture.md names every folder of src/', () => {
  const text = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const folders = readdirSync(join(root, 'src')).filter((n) => statSync(join(root, 'src', n)).isDirectory());
  assert.deepEqual(folders.filter((f) => !text.includes(`src/${f}`)), []);
});
