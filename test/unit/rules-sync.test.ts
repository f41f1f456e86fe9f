// RulesSync's writes apart: a write started while an earlier sync's write is still running (that sync
// was abandoned for a waiting change, or threw) starts only once the earlier one has ended, so that
// two iptables-save/-restore of the same chains never overlap, and the later rules are the ones left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RulesSync } from '../../src/backends/ipvs/rules-sync.js';
import { Iptables } from '../../src/iptables/iptables.js';
import { ipvsModeRules } from '../../src/iptables/rules.js';
import { isIptablesModeOnlyChain } from '../../src/backends/leftovers.js';
import { finish } from '../../src/loop/pacer.js';
import { fakeRun, savedForm } from './fake-iptables.js';
import type { RuleSet } from '../../src/iptables/rules.js';
import type { ProxyModel } from '../../src/model/model.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** An iptables client whose writes end when the test says so; it records when each started and ended. */
function heldClient(events: string[]) {
  const held: (() => void)[] = [];
  let n = 0;
  const client = {
    applyAsync(rs: RuleSet): Promise<{ changed: boolean; ms: number }> {
      const id = `${rs.family}#${++n}`;
      events.push(`start ${id}`);
      return new Promise((resolve) => held.push(() => {
        events.push(`end ${id}`);
        resolve({ changed: true, ms: 1 });
      }));
    },
  };
  return { client: client as unknown as Iptables, release: () => held.shift()!() };
}

const model = { ipsetEntries: () => [] } as unknown as ProxyModel;
const ruleSet = (family: 'inet' | 'inet6') => ({ family, tables: [] }) as unknown as RuleSet;

test('a write apart waits for the one still running from an earlier sync, then runs', async () => {
  const events: string[] = [];
  const { client, release } = heldClient(events);
  const rules = new RulesSync(quiet);
  rules.add('inet', () => ruleSet('inet'), client);
  const first = rules.start(rules.due(true, [], [], model, [], () => []))!;
  assert.ok(first, 'the first sync writes apart');
  // The first sync is abandoned here: nothing waits for its write. The next full sync starts its own.
  const second = rules.start(rules.due(true, [], [], model, [], () => []));
  assert.ok(second, 'the second sync writes apart too, instead of at once with the thread blocked');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['start inet#1'], 'the second write has not started while the first runs');
  release();
  await first.done;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['start inet#1', 'end inet#1', 'start inet#2']);
  release();
  await second.done;
  assert.deepEqual(events, ['start inet#1', 'end inet#1', 'start inet#2', 'end inet#2']);
  assert.deepEqual(second.outcomes.map((o) => [o.family, o.changed]), [['inet', true]]);
});

test('sawNone: the chains the rules\' own iptables-save showed, before they were written, answer for leftovers', async () => {
  const rs = ipvsModeRules({ family: 'inet', masqueradeAll: false, masqueradeBit: 14, randomFully: false, nonEmptySets: [] });
  const leftover = '*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n';
  const state = { save: leftover, restores: [] as string[], calls: [] as string[], next: savedForm(rs) };
  const run = fakeRun(state);
  const rules = new RulesSync(quiet);
  rules.add('inet', () => rs, new Iptables({ family: 'inet', run, runAsync: async (c, a, i) => run(c, a, i) }));
  assert.equal(rules.sawNone('inet', isIptablesModeOnlyChain), undefined, 'nothing applied yet: no answer');
  assert.equal(rules.sawNone('inet6', isIptablesModeOnlyChain), undefined, 'no rules for this family');
  const due = rules.due(true, [], [], model, [], () => []);
  await rules.start(due)!.done;
  assert.equal(state.restores.length, 1);
  assert.equal(rules.sawNone('inet', isIptablesModeOnlyChain), false, 'KUBE-SVC- was there before the write');
  // The next full sync's save holds only our chains (the restore made `next` the state): none left.
  finish(rules.finish(rules.due(true, [], [], model, [], () => []), undefined, []));
  assert.equal(rules.sawNone('inet', isIptablesModeOnlyChain), true);
  assert.equal(rules.sawNone('inet', (table, chain) => table === 'nat' && chain === 'KUBE-SERVICES'), false);
});

test('a family whose write failed is written again at the next sync, a change sync too, until a write succeeds', () => {
  let failing = true;
  const writes: string[] = [];
  const client = {
    apply(rs: RuleSet): { changed: boolean; ms: number } {
      writes.push(rs.family);
      if (failing) throw new Error('iptables-save: injected failure');
      return { changed: true, ms: 1 };
    },
  } as unknown as Iptables;
  const rules = new RulesSync(quiet);
  rules.add('inet', () => ruleSet('inet'), client);
  // A change sync whose sets changed (a first externalIP): due, and its write fails.
  const sets = () => ['KUBE-EXTERNAL-IP' as never];
  const failures: { op: string }[] = [];
  finish(rules.finish(rules.due(false, ['inet|KUBE-EXTERNAL-IP|192.0.2.21,tcp:80'], [], model, [], sets), undefined, failures as never));
  assert.equal(failures.length, 1);
  // The next change sync, the sets as they were: still due, and still failing.
  const again = rules.due(false, [], [], model, [], sets);
  assert.deepEqual(again.map((t) => t.rules.family), ['inet'], 'due although its inputs did not change since the failed write');
  const more: { op: string }[] = [];
  finish(rules.finish(again, undefined, more as never));
  assert.equal(more.length, 1, 'a change sync reports the failure again, instead of succeeding over stale rules');
  failing = false;
  const fixed: { op: string }[] = [];
  finish(rules.finish(rules.due(false, [], [], model, [], sets), undefined, fixed as never));
  assert.equal(fixed.length, 0);
  assert.deepEqual(rules.due(false, [], [], model, [], sets), [], 'written: nothing due any more');
  assert.deepEqual(writes, ['inet', 'inet', 'inet']);
});

