// The heap modes' V8 flags: those only node's command line can set reach the agent as it is shipped
// (bin/kipvs.js' first line), V8 knows every flag, and the agent can tell when one is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEAP, FIRST_SYNC_HEAP_FLAGS, HEAP_FLAGS, NODE_FLAGS, checkNodeFlags } from '../../src/config/heap.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test("bin/kipvs.js starts node with the default heap mode's command-line flags", () => {
  const first = readFileSync(join(root, 'bin', 'kipvs.js'), 'utf8').split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node( .*)?$/.exec(first);
  assert.ok(m, first);
  assert.deepEqual((m[1] ?? '').trim().split(/\s+/).filter(Boolean), [...NODE_FLAGS[DEFAULT_HEAP]]);
  assert.ok(NODE_FLAGS[DEFAULT_HEAP].length > 0, 'the default mode caps the young generation');
});

test('every heap flag is one this node accepts, as it is applied (command line, or at run time)', () => {
  assert.deepEqual(Object.keys(NODE_FLAGS).sort(), Object.keys(HEAP_FLAGS).sort());
  assert.deepEqual(Object.keys(FIRST_SYNC_HEAP_FLAGS).sort(), Object.keys(HEAP_FLAGS).sort());
  // node refuses an unknown V8 flag on its command line ("bad option").
  for (const flags of Object.values(NODE_FLAGS)) if (flags.length) execFileSync(process.execPath, [...flags, '-e', '0'], { stdio: 'pipe' });
  // v8.setFlagsFromString ignores unknown flags silently: check each against node's list of V8 flags.
  const list = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  for (const flags of [...Object.values(HEAP_FLAGS), ...Object.values(FIRST_SYNC_HEAP_FLAGS)]) {
    for (const n of flags.map((f) => f.replace(/^--/, '').replace(/=.*/, ''))) assert.match(list, new RegExp(`^  --${n} `, 'm'), `V8 has no --${n}`);
  }
});

test("checkNodeFlags: the mode's flags found on the command line or in NODE_OPTIONS, in either spelling; another mode's noticed", () => {
  const [flag, reducer] = NODE_FLAGS.bounded as [string, string];
  assert.equal(reducer, '--no-memory-reducer');
  const [name, value] = flag.split('=') as [string, string];
  assert.deepEqual(checkNodeFlags('bounded', []), { missing: [flag, reducer], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [flag]), { missing: [reducer], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [reducer, flag]), { missing: [], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [reducer], `--enable-source-maps ${flag}`), { missing: [], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [flag.replace(/semi-space/, 'semi_space'), '--no_memory_reducer']), { missing: [], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [reducer], `${name} ${value}`), { missing: [], unasked: [] });
  assert.deepEqual(checkNodeFlags('bounded', [`${name}=16`, reducer]).missing, [flag]);
  assert.deepEqual(checkNodeFlags('v8', []), { missing: [], unasked: [] });
  assert.deepEqual(checkNodeFlags('v8', ['--expose-gc', flag]), { missing: [], unasked: [flag] });
  assert.deepEqual(checkNodeFlags('size', [], `${name} ${value}`).unasked, [flag]);
});

// Allocates until V8 has run a full (mark-compact) collection, then idles half a second: V8's memory
// reducer arms its timer at a full collection, and its start delay is cut to 50 ms below.
const ALLOCATE_UNTIL_FULL_GC = `
const { PerformanceObserver, constants } = require('node:perf_hooks');
let major = false;
new PerformanceObserver((l) => { if (l.getEntries().some((e) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) major = true; }).observe({ entryTypes: ['gc'] });
const keep = [];
(function grow() {
  for (let i = 0; i < 50000; i++) keep.push({ i, s: 'x' + i });
  if (!major && keep.length < 5e6) setImmediate(grow);
  else setTimeout(() => console.log(major ? 'full collection seen' : 'no full collection'), 500);
})();`;

test("the default heap mode's command line turns V8's memory reducer off (the agent's own collections give memory back)", (t) => {
  // --trace-memory-reducer prints a line each time the reducer's timer runs; V8 11 (Node 20) has no such flag.
  if (!/^ {2}--trace-memory-reducer /m.test(execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }))) {
    t.skip(`V8 ${process.versions.v8} cannot trace its memory reducer`);
    return;
  }
  const run = (flags: readonly string[]) => execFileSync(process.execPath, [...flags, '--trace-memory-reducer', '--gc-memory-reducer-start-delay-ms=50', '-e', ALLOCATE_UNTIL_FULL_GC], { encoding: 'utf8' });
  const plain = run([]);
  assert.match(plain, /full collection seen/);
  assert.match(plain, /Memory reducer:/, 'without the flags the reducer runs after a full collection');
  const bounded = run(NODE_FLAGS[DEFAULT_HEAP]);
  assert.match(bounded, /full collection seen/);
  assert.doesNotMatch(bounded, /Memory reducer:/);
});
