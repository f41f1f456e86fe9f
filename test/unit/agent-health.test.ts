// Health semantics (kube-proxy's), health-check node ports over real HTTP, and the metrics text format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxierHealth, HealthCheckNodePorts, parseBindAddress, nodeEligible, listen } from '../../src/agent/health.js';
import { agentMetrics, Histogram } from '../../src/agent/metrics.js';

function get(port: number, path: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    }).on('error', reject);
  });
}

test('healthz: unhealthy when a queued update waits longer than the timeout; healthy again after a sync', () => {
  let now = 1_000_000;
  const h = new ProxierHealth(60_000, () => now);
  assert.equal(h.report(true).status, 200, 'within the timeout after start-up');
  now += 61_000;
  assert.equal(h.report(true).status, 503, 'never synced after start');
  h.updated();
  assert.equal(h.report(true).status, 200);
  h.queued();
  now += 30_000;
  h.queued(); // a later queue does not reset the oldest pending time
  now += 31_000;
  assert.equal(h.report(false).status, 503);
  h.updated();
  now += 600_000;
  assert.equal(h.report(true).status, 200, 'nothing pending: healthy however long ago the last sync was');
  const body = JSON.parse(h.report(true).body);
  assert.deepEqual(Object.keys(body).sort(), ['currentTime', 'lastUpdated', 'nodeEligible']);
});

test('healthz reports 503 for a node being deleted; livez does not', () => {
  const h = new ProxierHealth(60_000);
  h.updated();
  h.setNodeEligible(nodeEligible({ metadata: { deletionTimestamp: new Date() } }));
  assert.equal(h.report(true).status, 503);
  assert.equal(h.report(false).status, 200);
  assert.equal(nodeEligible({ spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler' }] } }), false);
  assert.equal(nodeEligible({ spec: { taints: [{ key: 'node.kubernetes.io/unschedulable' }] } }), true);
  assert.equal(nodeEligible(undefined), true);
});

test('healthz and livez over HTTP', async () => {
  const h = new ProxierHealth(60_000);
  h.updated();
  const server = http.createServer(h.handler());
  const port = await listen(server, '127.0.0.1:0');
  try {
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/livez')).status, 200);
    assert.equal((await get(port, '/other')).status, 404);
  } finally {
    server.close();
  }
});

test('bind addresses', () => {
  assert.deepEqual(parseBindAddress('0.0.0.0:10256'), { host: '0.0.0.0', port: 10256 });
  assert.deepEqual(parseBindAddress('[::1]:10249'), { host: '::1', port: 10249 });
  assert.deepEqual(parseBindAddress(':10256'), { host: '0.0.0.0', port: 10256 });
  assert.throws(() => parseBindAddress('10256'), /invalid bind address "10256"/);
  assert.throws(() => parseBindAddress('1.2.3.4:70000'), /invalid bind address/);
});

test('health-check node ports: 200 with local endpoints, 503 without, servers follow the wanted set', async () => {
  const hc = new HealthCheckNodePorts('127.0.0.1', { warn() {} });
  const free = await new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
  try {
    await hc.update(new Map([[free, { service: 'default/web', localEndpoints: 2 }]]));
    let r = await get(free, '/');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { service: { namespace: 'default', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });
    assert.equal(r.headers['x-load-balancing-endpoint-weight'], '2');
    await hc.update(new Map([[free, { service: 'default/web', localEndpoints: 0 }]]));
    r = await get(free, '/');
    assert.equal(r.status, 503);
    await hc.update(new Map());
    assert.deepEqual(hc.ports, []);
    await assert.rejects(get(free, '/'));
  } finally {
    hc.close();
  }
});

test('metrics: text exposition with kube-proxy names, labels, histogram buckets', () => {
  const m = agentMetrics();
  m.syncDuration.observe(0.003);
  m.operations.inc({ op: 'add-server' }, 3);
  m.operations.inc({ op: 'bind' });
  m.drainingServers.set(4);
  m.drainingServers.set(2);
  const text = m.registry.render();
  assert.match(text, /# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram/);
  assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="0.002"\} 0\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="0.004"\} 1\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="\+Inf"\} 1\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count 1\n/);
  assert.match(text, /kipvs_netlink_operations_total\{op="add-server"\} 3\n/);
  assert.match(text, /kipvs_netlink_operations_total\{op="bind"\} 1\n/);
  assert.match(text, /kipvs_graceful_termination_queue_size 2\n/);
  assert.match(text, /# TYPE kubeproxy_network_programming_duration_seconds histogram/);
  const h = new Histogram('x', 'y', [1, 2]);
  h.observe(1.5, { a: 'q"uote' });
  assert.match(h.render(), /x_bucket\{a="q\\"uote",le="2"\} 1/);
});
