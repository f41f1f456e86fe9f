// The agent's tiering flags (src/config/tiering.ts): set only on a V8 that has them, and read by V8 as
// it runs (the agent sets them after start, not on node's command line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { TIERING_FLAGS, tieringFlags } from '../../src/config/tiering.js';

const flagName = (f: string) => f.replace(/^--/, '').replace(/=.*/, '');

test('tieringFlags: none on V8 11 (Node 20), all of them on V8 12 and 13 (Node 22, 24)', () => {
  assert.deepEqual(tieringFlags('11.3.244.8-node.38'), []);
  assert.deepEqual(tieringFlags('12.4.254.21-node.57'), TIERING_FLAGS);
  assert.deepEqual(tieringFlags('13.6.233.17-node.41'), TIERING_FLAGS);
  assert.ok(TIERING_FLAGS.length > 0);
});

test("this node's V8 has each tiering flag exactly when tieringFlags gives it", () => {
  // v8.setFlagsFromString only warns on stderr about an unknown flag: the version gate is what keeps
  // Node 20's agent quiet, and what keeps the flags on where V8 has them.
  const list = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const given = tieringFlags(process.versions.v8);
  for (const f of TIERING_FLAGS) {
    const known = new RegExp(`^  --${flagName(f)} `, 'm').test(list);
    assert.equal(known, given.includes(f), `${f}: V8 ${process.versions.v8} ${known ? 'has' : 'lacks'} it`);
  }
});

test('a tiering flag set at run time changes when V8 compiles with TurboFan', () => {
  // A function run 10,000 times (past V8's default threshold, short of the agent's): TurboFan compiles
  // it under the defaults and not once the agent's flags are set. On a V8 without the flags, both runs
  // compile it (the flags are not set there), which is what this asserts then.
  const script = `
    import v8 from 'node:v8';
    import { tieringFlags } from ${JSON.stringify(new URL('../../src/config/tiering.js', import.meta.url).href)};
    if (process.argv[1] === 'set') for (const f of tieringFlags(process.versions.v8)) v8.setFlagsFromString(f);
    function hot(x) { let s = 0; for (let i = 0; i < 3; i++) s += x * i; return s; }
    let t = 0;
    for (let i = 0; i < 10000; i++) { t += hot(i); if (i % 500 === 0) await null; }
    if (t < 0) console.log(t);`;
  const turbofanCompiles = (mode: string) => {
    const out = execFileSync(process.execPath, ['--trace-opt', '--input-type=module', '-e', script, mode], { encoding: 'utf8' });
    return out.split('\n').filter((l) => /<JSFunction hot /.test(l) && /marking.*TURBOFAN/.test(l)).length;
  };
  assert.ok(turbofanCompiles('default') >= 1, 'TurboFan compiles the function under V8 defaults');
  const expected = tieringFlags(process.versions.v8).length > 0 ? 0 : 1;
  assert.equal(Math.min(turbofanCompiles('set'), 1), expected);
});
