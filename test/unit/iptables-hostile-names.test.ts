// Hostile names against iptables-restore input (issue 11, security): namespaces, Service names and port
// names with newlines, quotes, backslashes, "#", unicode and "*nat"/"COMMIT" lines. Through the model
// they are refused with a warning (and the well-formed Service beside them is still programmed); handed
// straight to the renderer (a second line of defence) they come out as harmless comments, and the
// restore text is exactly the rules the same ports with ordinary names give. The last test restores
// the text for real in a fresh network namespace and reads it back with iptables-save.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ProxyModel } from '../../src/model/index.js';
import type { ServicePortDesired } from '../../src/model/types.js';
import { renderIptablesMode } from '../../src/backends/iptables/render.js';
import { HOSTILE_TEXT } from './arbitraries.js';

const HOSTILE = [...HOSTILE_TEXT, 'ns/name:port" -j ACCEPT "', 'x\n-A KUBE-SERVICES -j ACCEPT', '\\\n*filter', '"', '\u2028', 'a\tb'];

function port(name: string, i: number): ServicePortDesired {
  const ep = (host: number, local: boolean) => ({ address: `10.1.${i}.${host}`, port: 8080, local });
  return {
    name, service: name, portName: 'p', family: 'inet', protocol: 'tcp', port: 80, clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    nodePort: 30000 + i, externalIPs: [`198.51.100.${(i % 250) + 1}`], loadBalancerIPs: [`203.0.113.${(i % 250) + 1}`],
    sourceRanges: ['192.0.2.0/24'], affinitySeconds: 60, internalLocal: false, externalLocal: i % 2 === 0,
    clusterEndpoints: [ep(1, true), ep(2, false)], localEndpoints: [ep(1, true)], hasEndpoints: true, notes: [],
  };
}

/** The text with every comment and per-Service chain name replaced by a placeholder: the rules' shape. */
function shape(text: string): string {
  return text.replace(/--comment ("[^"\n]*"|\S+)/g, '--comment C').replace(/KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}/g, 'KUBE-$1-H');
}

/** Lines iptables-restore reads as table headers, chain declarations, rules, deletions and commits; nothing else. */
const LINE = /^(\*filter|\*nat|COMMIT|:[A-Z][A-Z0-9-]* - \[0:0\]|-A [A-Z][A-Z0-9-]* .+|-X [A-Z][A-Z0-9-]*)$/;

function checkStructure(text: string): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  for (const l of lines) {
    assert.match(l, LINE, `a line iptables-restore reads as intended: ${JSON.stringify(l)}`);
    assert.equal((l.match(/"/g) ?? []).length % 2, 0, `balanced quotes: ${JSON.stringify(l)}`);
    assert.ok(!l.includes('\\'), `no backslash: ${JSON.stringify(l)}`);
    for (const m of l.matchAll(/--comment "([^"]*)"/g)) assert.ok(Buffer.byteLength(m[1]!) < 256, 'comment under 256 bytes');
  }
  assert.deepEqual(lines.filter((l) => /^(\*|COMMIT)/.test(l)), ['*filter', 'COMMIT', '*nat', 'COMMIT'], 'two tables, two commits, nothing injected');
}

test('hostile namespaces, Service names and port names are refused by the model with a warning; the well-formed Service beside them is programmed', () => {
  const m = new ProxyModel({ scheduler: '', nodeName: 'node-a', families: ['inet'], backend: 'iptables' });
  HOSTILE.forEach((h, i) => {
    const ip = `10.96.1.${(i % 250) + 1}`;
    m.upsertService({ metadata: { namespace: 'default', name: h }, spec: { clusterIP: ip, ports: [{ port: 80 }] } });
    m.upsertService({ metadata: { namespace: h, name: 'web' }, spec: { clusterIP: ip, ports: [{ port: 81 }] } });
    m.upsertService({ metadata: { namespace: 'default', name: `ok-${i}` }, spec: { clusterIP: ip, ports: [{ name: h, port: 82 }, { name: 'good', port: 83 }] } });
  });
  m.upsertService({ metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.9.9', ports: [{ name: 'http', port: 80 }] } });
  m.commit();
  const warnings = m.warnings();
  let refused = 0;
  HOSTILE.forEach((h, i) => {
    // Some of the texts ("tcp", "constructor") are good Kubernetes names; '' as a port name is "unnamed".
    const good = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(h) && h.length <= 63;
    const kept = m.service('default', `ok-${i}`)?.ports.map((p) => p.name);
    if (good) {
      assert.deepEqual(kept, [`default/ok-${i}:${h}`, `default/ok-${i}:good`]);
      return;
    }
    refused++;
    assert.ok(warnings.some((w) => w.field === 'metadata.name' && w.object === `Service default/${h}`), `name ${JSON.stringify(h)} refused`);
    assert.ok(warnings.some((w) => w.field === 'metadata.namespace' && w.object === `Service ${h === '' ? 'default' : h}/web`) || h === '', `namespace ${JSON.stringify(h)} refused`);
    if (h !== '') assert.ok(warnings.some((w) => w.field === 'spec.ports[0].name' && w.object === `Service default/ok-${i}`), `port name ${JSON.stringify(h)} refused`);
    assert.deepEqual(kept, h === '' ? [`default/ok-${i}`, `default/ok-${i}:good`] : [`default/ok-${i}:good`], 'the good port of the same Service is kept');
  });
  assert.ok(refused >= HOSTILE.length - 4, `most of the texts are refused (${refused})`);
  const ports = [...m.services()].flatMap((s) => s.ports);
  assert.ok(ports.some((p) => p.name === 'default/web:http'));
  for (const p of ports) assert.match(p.name, /^[a-z0-9-]+\/[a-z0-9-]+(:[a-z0-9-]+)?$/, 'only Kubernetes names reach the renderer');
  checkStructure(renderIptablesMode({ family: 'inet', ports }).text);
});

test('hostile names handed straight to the renderer become harmless comments: the same rules as ordinary names', () => {
  const hostile = renderIptablesMode({ family: 'inet', ports: HOSTILE.map((h, i) => port(h, i)), localDetector: { kind: 'cidr', cidr: '10.244.0.0/16' } });
  const plain = renderIptablesMode({ family: 'inet', ports: HOSTILE.map((_h, i) => port(`ns/svc-${i}:p`, i)), localDetector: { kind: 'cidr', cidr: '10.244.0.0/16' } });
  checkStructure(hostile.text);
  assert.equal(hostile.lines, plain.lines);
  assert.deepEqual(hostile.total, plain.total);
  assert.equal(shape(hostile.text), shape(plain.text), 'the same rules, comments and hashes aside');
  // Comments hold names made safe, in kube-proxy's phrases (which use spaces, ";", "->" and IPv6's brackets).
  for (const m of hostile.text.matchAll(/--comment ("[^"\n]*"|\S+)/g)) assert.match(m[1]!, /^"?[A-Za-z0-9._:/ ;>[\]-]*"?$/);
});

/** Runs `script` in a new network namespace (root only); undefined when that is not possible here. */
function inNetns(script: string, input: string): { status: number | null; stdout: string; stderr: string } | undefined {
  const probe = spawnSync('unshare', ['-n', 'true']);
  if (probe.error || probe.status !== 0) return undefined;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the restore text of hostile names loads into the kernel as exactly the rendered rules (iptables-restore, then iptables-save)', (t) => {
  const ports = HOSTILE.map((h, i) => port(h, i));
  const r = renderIptablesMode({ family: 'inet', ports, localDetector: { kind: 'cidr', cidr: '10.244.0.0/16' } });
  const ran = inNetns('iptables-restore --noflush && iptables-save -t filter && iptables-save -t nat', r.text);
  if (!ran) {
    t.skip('needs root to make a network namespace (unshare -n); the two tests above still check the text');
    return;
  }
  assert.equal(ran.status, 0, `iptables-restore took the text: ${ran.stderr}`);
  const saved = ran.stdout.split('\n').filter((l) => l.startsWith('-A KUBE-'));
  const written = r.text.split('\n').filter((l) => l.startsWith('-A KUBE-'));
  assert.equal(saved.length, written.length, 'as many rules in the kernel as written');
  const comments = (lines: string[]) => lines.flatMap((l) => [...l.matchAll(/--comment (?:"([^"]*)"|(\S+))/g)].map((m) => m[1] ?? m[2])).sort();
  assert.deepEqual(comments(saved), comments(written), 'every comment read back is one that was written');
});
