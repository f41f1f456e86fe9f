// The benchmark's GC meter counts the collections node reports, between two reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GcMeter } from '../../scripts/lib/gc-meter.js';

test('GcMeter: scavenges while young objects pile up, a full collection when one is forced', async () => {
  const meter = new GcMeter();
  const before = await meter.read();
  let keep: object[] = [];
  for (let i = 0; i < 2_000_000; i++) {
    keep.push({ i });
    if (keep.length > 50_000) keep = [];
  }
  const young = await meter.since(before);
  assert.ok(young.minor > 0, JSON.stringify(young));
  assert.ok(young.ms > 0, JSON.stringify(young));
  // gc() without --expose-gc: V8 installs it in contexts made after the flag is set.
  (await import('node:v8')).setFlagsFromString('--expose-gc');
  const gc = (await import('node:vm')).runInNewContext('gc') as () => void;
  const b = await meter.read();
  gc();
  assert.ok((await meter.since(b)).major >= 1);
  meter.stop();
  void keep;
});
