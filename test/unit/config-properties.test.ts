// Property-based test (fast-check) of the configuration loader: a KubeProxyConfiguration file with any
// set of bad fields, in any order among good ones, is refused with every error at once, one per bad
// field, each naming the file's line and column of the value and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import { MAX_CONFIG_FILE_BYTES } from '../../src/config/config.js';

const RUNS = Number(process.env.KIPVS_PROPERTY_RUNS ?? 100);

/** A field (section and key; '' for top level), a value, and the field an error about it must name. */
interface Field { section: string; key: string; value: string; bad: boolean; unknown?: true }

const BAD: Field[] = [
  { section: '', key: 'mode', value: 'userspace', bad: true },
  { section: '', key: 'clusterCIDR', value: '10.0.0.0/33', bad: true },
  { section: '', key: 'healthzBindAddress', value: '"localhost:10256"', bad: true },
  { section: '', key: 'metricsBindAddress', value: '"127.0.0.1:99999"', bad: true },
  { section: '', key: 'detectLocalMode', value: 'Magic', bad: true },
  { section: '', key: 'bindAddress', value: 'nowhere', bad: true },
  { section: '', key: 'oomScoreAdj', value: '-1001', bad: true },
  { section: '', key: 'nodePortAddresses', value: '[all-of-them]', bad: true },
  { section: '', key: 'noSuchField', value: '1', bad: true, unknown: true },
  { section: 'ipvs', key: 'scheduler', value: 'fastest', bad: true },
  { section: 'ipvs', key: 'strictARP', value: '"yes"', bad: true },
  { section: 'ipvs', key: 'excludeCIDRs', value: '10.0.0.0/8', bad: true },
  { section: 'ipvs', key: 'syncPeriod', value: '30', bad: true },
  { section: 'iptables', key: 'masqueradeBit', value: '32', bad: true },
  { section: 'conntrack', key: 'maxPerCore', value: '-1', bad: true },
  { section: 'conntrack', key: 'udpStreamTimeout', value: '2', bad: true },
  { section: 'logging', key: 'format', value: 'xml', bad: true },
];
const GOOD: Field[] = [
  { section: '', key: 'hostnameOverride', value: 'node-a', bad: false },
  { section: 'ipvs', key: 'minSyncPeriod', value: '1s', bad: false },
  { section: 'iptables', key: 'masqueradeAll', value: 'false', bad: false },
  { section: 'conntrack', key: 'min', value: '131072', bad: false },
  { section: 'logging', key: 'verbosity', value: '2', bad: false },
];

/** The file's text and, for each field, "line:col" of its value (of its key for an unknown field). */
function compose(fields: Field[]): { text: string; at: Map<Field, string> } {
  const lines = ['apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration'];
  const at = new Map<Field, string>();
  const put = (f: Field, indent: string) => {
    const prefix = `${indent}${f.key}: `;
    lines.push(prefix + f.value);
    at.set(f, `${lines.length}:${f.unknown ? indent.length + 1 : prefix.length + 1}`);
  };
  // Top-level fields in their order; each section once, where its first field falls, with all its fields.
  const done = new Set<string>();
  for (const f of fields) {
    if (f.section === '') { put(f, ''); continue; }
    if (done.has(f.section)) continue;
    done.add(f.section);
    lines.push(`${f.section}:`);
    for (const g of fields) if (g.section === f.section) put(g, '  ');
  }
  return { text: lines.join('\n') + '\n', at };
}

test('property: every error of a configuration file is reported at once, each with the line and column of its value', async () => {
  const fields = fc.tuple(fc.subarray(BAD, { minLength: 1 }), fc.subarray(GOOD)).chain(([b, g]) => fc.shuffledSubarray([...b, ...g], { minLength: b.length + g.length }));
  await fc.assert(fc.asyncProperty(fields, async (list) => {
    const { text, at } = compose(list);
    let err: unknown;
    try {
      await loadConfig(['--config', 'kube-proxy.yaml'], { readFile: async () => text, hostname: () => 'node-a' });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `refused:\n${text}`);
    const messages = err.message.split('\n');
    const bad = list.filter((f) => f.bad);
    assert.equal(messages.length, bad.length, `one error per bad field:\n${text}\n${err.message}`);
    for (const f of bad) {
      const field = f.section ? `${f.section}.${f.key}` : f.key;
      const want = `kube-proxy.yaml:${at.get(f)}: ${field}`;
      assert.ok(messages.some((m) => m.startsWith(want)), `${want} in:\n${err.message}\n---\n${text}`);
    }
  }), { numRuns: RUNS });
});

test('a configuration file over the size limit is refused before it is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-config-'));
  try {
    const path = join(dir, 'huge.yaml');
    writeFileSync(path, '');
    truncateSync(path, 100 << 20); // sparse: 100 MiB without writing them
    await assert.rejects(loadConfig(['--config', path], { hostname: () => 'node-a' }),
      (e: unknown) => e instanceof ConfigError && e.message === `${path}: cannot read: ${100 << 20} bytes, more than the limit of ${MAX_CONFIG_FILE_BYTES}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
