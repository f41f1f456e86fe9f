// The agent's tiering flags (src/config/tiering.ts): set only on a V8 that has them, and read by V8 as
// it runs (the agent sets them after start, not on node's command line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { TIERING_FLAGS, tieringFlags } from '../../src/config/tiering.js';

const flagName = (f: string) => f.replace(/^--/, '').replace(/=.*/, '');

test('tieringFlags: none on V8 11 and 12 (Node 20, 22), all of them on V8 13 (Node 24) and later', () => {
  assert.deepEqual(tieringFlags('11.3.244.8-node.38'), []);
  assert.deepEqual(tieringFlags('12.4.254.21-node.57'), []);
  assert.deepEqual(tieringFlags('13.6.233.17-node.41'), TIERING_FLAGS);
  assert.deepEqual(tieringFlags('14.1.146.11'), TIERING_FLAGS);
  assert.ok(TIERING_FLAGS.length > 0);
});

test("this node's V8 has each tiering flag tieringFlags gives; Node 20's V8 lacks them", () => {
  // v8.setFlagsFromString only warns on stderr about an unknown flag: the version gate keeps Node 20's
  // agent quiet, and must not drop the flags where V8 has them and they act (the next test).
  const list = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const known = (f: string) => new RegExp(`^  --${flagName(f)} `, 'm').test(list);
  for (const f of tieringFlags(process.versions.v8)) assert.ok(known(f), `${f}: V8 ${process.versions.v8} lacks it`);
  if (Number(process.versions.v8.split('.')[0]) < 12) for (const f of TIERING_FLAGS) assert.ok(!known(f), `${f}: V8 ${process.versions.v8} has it`);
});

test('a tiering flag set at run time changes when V8 compiles with TurboFan', () => {
  // A function run 10,000 times (past V8's default threshold, short of the agent's): TurboFan compiles
  // it under the defaults and not once the agent's flags are set. Where tieringFlags gives none (V8 11,
  // and V8 12, on which the flag does not hold TurboFan back), both runs compile it.
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
