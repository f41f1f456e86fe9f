// The heap modes' V8 flags: those only node's command line can set reach the agent as it is shipped
// (bin/kipvs.js' first line), V8 knows every flag, and the agent can tell when one is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEAP, HEAP_FLAGS, NODE_FLAGS, missingNodeFlags } from '../../src/config/heap.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test("bin/kipvs.js starts node with the default heap mode's command-line flags", () => {
  const first = readFileSync(join(root, 'bin', 'kipvs.js'), 'utf8').split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node( .*)?$/.exec(first);
  assert.ok(m, first);
  assert.deepEqual((m[1] ?? '').trim().split(/\s+/).filter(Boolean), [...NODE_FLAGS[DEFAULT_HEAP]]);
  assert.ok(NODE_FLAGS[DEFAULT_HEAP].length > 0, 'the default mode caps the young generation');
});

test('every heap flag is one this node accepts, as it is applied (command line, or at run time)', () => {
  for (const [mode, flags] of Object.entries(NODE_FLAGS)) {
    // node refuses an unknown V8 flag on its command line ("bad option").
    if (flags.length) execFileSync(process.execPath, [...flags, '-e', '0'], { stdio: 'pipe' });
    assert.ok(mode in HEAP_FLAGS, mode);
  }
  for (const flags of Object.values(HEAP_FLAGS)) {
    // v8.setFlagsFromString ignores unknown flags silently: check each against node's list of V8 flags.
    const names = flags.map((f) => f.replace(/^--/, '').replace(/=.*/, ''));
    const list = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    for (const n of names) assert.ok(list.includes(`--${n} `) || list.includes(`--${n}\n`) || list.includes(`--${n} (`), `V8 has no --${n}`);
  }
});

test('missingNodeFlags: found on the command line or in NODE_OPTIONS, either spelling', () => {
  const flag = NODE_FLAGS.bounded[0]!;
  assert.deepEqual(missingNodeFlags('bounded', []), [flag]);
  assert.deepEqual(missingNodeFlags('bounded', [flag]), []);
  assert.deepEqual(missingNodeFlags('bounded', [], `--enable-source-maps ${flag}`), []);
  assert.deepEqual(missingNodeFlags('bounded', [flag.replace(/semi-space/, 'semi_space')]), []);
  assert.deepEqual(missingNodeFlags('bounded', ['--max-semi-space-size=16']), [flag]);
  assert.deepEqual(missingNodeFlags('v8', []), []);
});
