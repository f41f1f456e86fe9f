// Health semantics (kube-proxy's), health-check node ports over real HTTP, and the metrics text format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxierHealth, HealthCheckNodePorts, healthCheckAnswer, healthCheckHosts, parseBindAddress, nodeEligible, listen } from '../../src/agent/health.js';
import { agentMetrics, Histogram } from '../../src/agent/metrics.js';

function get(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false }, (res) => {
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

test('a change received while a sync ran stays pending after it, from when it came, until a sync takes it', () => {
  let now = 1_000_000;
  const h = new ProxierHealth(60_000, () => now);
  h.updated();
  // A sync starts; a change comes 1 s into it; the sync (which took the changes before) ends well.
  h.queued();
  const cameAt = now;
  now += 5_000;
  h.updated('IPv4', cameAt);
  assert.equal(h.report(true).status, 200, 'pending, not late yet');
  // The syncs for that change fail: 60 s after it came, not after the sync that did not take it.
  now = cameAt + 59_000;
  assert.equal(h.report(true).status, 200);
  now = cameAt + 60_000;
  assert.equal(h.report(true).status, 503);
  assert.equal(JSON.parse(h.report(true).body).lastUpdated, new Date(cameAt + 5_000).toISOString(), 'the last sync that succeeded');
  // A sync that takes it.
  h.updated('IPv4');
  now += 600_000;
  assert.equal(h.report(true).status, 200);
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

test('health-check node ports: 200 with local endpoints and a healthy proxier, 503 otherwise; servers follow the wanted set', async () => {
  let proxyHealthy = true;
  const hc = new HealthCheckNodePorts(() => proxyHealthy, { warn() {} });
  const free = await new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
  try {
    await hc.update(new Map([[free, { service: 'default/web', localEndpoints: 2 }]]), ['127.0.0.1']);
    let r = await get(free, '/');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { service: { namespace: 'default', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-load-balancing-endpoint-weight'], '2');
    proxyHealthy = false;
    r = await get(free, '/');
    assert.equal(r.status, 503, 'local endpoints but an unhealthy proxier');
    assert.equal(JSON.parse(r.body).serviceProxyHealthy, false);
    proxyHealthy = true;
    await hc.update(new Map([[free, { service: 'default/web', localEndpoints: 0 }]]), ['127.0.0.1']);
    r = await get(free, '/');
    assert.equal(r.status, 503);
    await hc.update(new Map(), ['127.0.0.1']);
    assert.deepEqual(hc.ports, []);
    await assert.rejects(get(free, '/'));
  } finally {
    hc.close();
  }
});

test('health-check node ports listen on every given address, and move when the addresses change', async () => {
  const hc = new HealthCheckNodePorts(() => true, { warn() {} });
  const free = await new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
  try {
    await hc.update(new Map([[free, { service: 'ns/lb', localEndpoints: 1 }]]), ['127.0.0.2', '127.0.0.3']);
    assert.equal((await get(free, '/', '127.0.0.2')).status, 200);
    assert.equal((await get(free, '/', '127.0.0.3')).status, 200);
    await assert.rejects(get(free, '/', '127.0.0.1'), 'not on an address it was not given');
    await hc.update(new Map([[free, { service: 'ns/lb', localEndpoints: 1 }]]), ['127.0.0.4']);
    assert.equal((await get(free, '/', '127.0.0.4')).status, 200);
    await assert.rejects(get(free, '/', '127.0.0.2'), 'closed on an address no longer given');
  } finally {
    hc.close();
  }
});

test('health-check hosts: a wildcard without nodePortAddresses, else their addresses of the programmed families', () => {
  assert.deepEqual(healthCheckHosts([], ['10.0.0.1', 'fd00::1'], ['inet', 'inet6']), ['::']);
  assert.deepEqual(healthCheckHosts([], ['10.0.0.1'], ['inet']), ['0.0.0.0']);
  assert.deepEqual(healthCheckHosts(['10.0.0.0/8', 'fd00::/64'], ['10.0.0.1', 'fd00::1'], ['inet', 'inet6']), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(healthCheckHosts(['10.0.0.0/8', 'fd00::/64'], ['10.0.0.1', 'fd00::1'], ['inet']), ['10.0.0.1']);
});

test('health-check answer: kube-proxy\'s tab-indented JSON body', () => {
  assert.deepEqual(healthCheckAnswer('kube-system/dns', 3, true), {
    status: 200,
    body: '{\n\t"service": {\n\t\t"namespace": "kube-system",\n\t\t"name": "dns"\n\t},\n\t"localEndpoints": 3,\n\t"serviceProxyHealthy": true\n}',
  });
  assert.equal(healthCheckAnswer('a/b', 0, true).status, 503);
  assert.equal(healthCheckAnswer('a/b', 1, false).status, 503);
});

test('proxier health per family: one late family makes the proxier unhealthy; healthz/livez answers are counted', async () => {
  let now = 5_000_000;
  const h = new ProxierHealth(10_000, () => now, []);
  h.track(['IPv4', 'IPv6']);
  h.updated('IPv4');
  now += 10_000;
  assert.equal(h.healthy(), false, 'IPv6 never synced within the timeout (kube-proxy: late at exactly the timeout)');
  h.updated('IPv6');
  assert.equal(h.healthy(), true);
  h.queued('IPv4');
  now += 9_999;
  assert.equal(h.healthy(), true, 'queued, not late yet');
  const healthy = JSON.parse(h.report(true).body);
  assert.equal(healthy.lastUpdated, healthy.currentTime, 'a healthy answer reports lastUpdated as now, as kube-proxy');
  now += 1;
  const late = h.report(true);
  assert.equal(late.status, 503);
  assert.equal(JSON.parse(late.body).lastUpdated, new Date(now - 20_000).toISOString(), 'the late family\'s (IPv4) last update, not the newest (IPv6)');
  const codes: string[] = [];
  h.onReport = (endpoint, code) => codes.push(`${endpoint} ${code}`);
  const server = http.createServer(h.handler());
  const port = await listen(server, '127.0.0.1:0');
  try {
    await get(port, '/healthz');
    h.updated('IPv4');
    await get(port, '/livez');
    await get(port, '/nothing');
  } finally {
    server.close();
  }
  assert.deepEqual(codes, ['healthz 503', 'livez 200']);
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
