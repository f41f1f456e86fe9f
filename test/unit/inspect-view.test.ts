// kipvs list/explain views: the kernel table joined with the agent's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinView, formatList, formatExplain, parseTarget } from '../../src/inspect/view.js';
import type { AgentState } from '../../src/agent/state.js';
import type { ServiceInfo, RealServerInfo } from '../../src/ipvs/types.js';

const svcInfo = (address: string, port: number): ServiceInfo => ({ family: 'inet', protocol: 'tcp', address, port, scheduler: 'rr', flags: 0, onePacket: false, schedulerFlags: {} });
const rs = (address: string, port: number, weight = 1, active = 0): RealServerInfo => ({
  address, port, family: 'inet', forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0, activeConns: active, inactiveConns: 0, persistentConns: 0,
});

const state: AgentState = {
  node: 'n1', mode: 'ipvs', source: 'test', startedAt: '2026-01-01T00:00:00.000Z', synced: true,
  virtualServices: [{
    key: 'inet/tcp/10.96.0.10/80',
    service: { family: 'inet', protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' },
    origin: { service: 'default/web', portName: 'http', servicePort: 80, protocol: 'tcp', kind: 'ClusterIP', trafficPolicy: 'Cluster', notes: [] },
    servers: [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.1.3', port: 8080 }],
    endpoints: [
      { address: '10.244.1.2', port: 8080, pod: 'default/web-a', node: 'n1', zone: 'z1', ready: true, serving: true, terminating: false, local: true, used: true },
      { address: '10.244.1.3', port: 8080, pod: 'default/web-b', node: 'n2', ready: true, serving: true, terminating: false, local: false, used: true },
      { address: '10.244.1.4', port: 8080, pod: 'default/web-c', node: 'n2', ready: false, serving: false, terminating: false, local: false, used: false, reason: 'not serving' },
    ],
  }],
  boundAddresses: ['10.96.0.10'],
  draining: [{ serviceKey: 'inet/tcp/10.96.0.10/80', server: '10.244.1.9/8080', since: '2026-01-01T00:01:00.000Z' }],
  warnings: [],
  healthCheckNodePorts: [],
};

test('joinView: pods and conditions from the agent, draining and drift from the comparison', () => {
  const kernel = [
    { service: svcInfo('10.96.0.10', 80), servers: [rs('10.244.1.2', 8080), rs('10.244.1.9', 8080, 0, 3)] },
    { service: svcInfo('192.0.2.1', 80), servers: [rs('192.0.2.2', 80)] },
  ];
  const [web, other] = joinView(kernel, state);
  assert.equal(web!.origin?.service, 'default/web');
  assert.deepEqual(web!.servers.map((s) => [s.address, s.condition, s.pod ?? null, s.drift ?? null]), [
    ['10.244.1.2', 'ready', 'default/web-a', null],
    ['10.244.1.9', 'draining', null, null],
    ['10.244.1.3', 'ready', 'default/web-b', 'wanted by the agent, missing from the kernel'],
  ]);
  assert.deepEqual(web!.unused.map((e) => e.reason), ['not serving']);
  assert.equal(other!.origin, undefined);
  const text = formatList(joinView(kernel, state), true);
  assert.match(text, /^TCP 10\.96\.0\.10:80 rr  default\/web:http ClusterIP$/m);
  assert.match(text, /-> 10\.244\.1\.9:8080 weight=0 draining since 2026-01-01T00:01:00\.000Z active=3/);
  assert.match(text, /^TCP 192\.0\.2\.1:80 rr  \(not managed by kipvs\)$/m);
  const ex = formatExplain('10.96.0.10:80', [web!], state);
  assert.match(ex, /Service default\/web, port "http" 80\/TCP, as ClusterIP/);
  assert.match(ex, /not used: 10\.244\.1\.4:8080 \(pod default\/web-c\): not serving/);
  assert.match(ex, /10\.96\.0\.10 is bound on kube-ipvs0/);
  const routed = formatExplain('10.96.0.10:80', [web!], { ...state, vipBinding: 'local-route' });
  assert.match(routed, /10\.96\.0\.10 is bound by a local route of kipvs \(table local, proto 107\)/);
  assert.doesNotMatch(routed, /kube-ipvs0/);
});

test('joinView without agent state is the kernel alone', () => {
  const views = joinView([{ service: svcInfo('10.96.0.10', 80), servers: [rs('10.244.1.2', 8080, 0)] }], undefined);
  assert.equal(views.length, 1);
  assert.equal(views[0]!.servers[0]!.condition, 'draining');
  assert.match(formatList(views, false), /^# no agent state/);
});

test('parseTarget', () => {
  assert.deepEqual(parseTarget('10.96.0.10:53'), { address: '10.96.0.10', port: 53 });
  assert.deepEqual(parseTarget('10.96.0.10'), { address: '10.96.0.10' });
  assert.deepEqual(parseTarget('[fd00::a]:443'), { address: 'fd00::a', port: 443 });
  assert.deepEqual(parseTarget('fd00::a'), { address: 'fd00::a' });
  assert.equal(parseTarget('10.96.0.10:0'), null);
  assert.equal(parseTarget('web:80'), null);
});

test('explain names a load balancer\'s source ranges and whether the node itself is kept out', () => {
  const lbState = (allowFromNode: boolean): AgentState => ({
    ...state,
    virtualServices: [{
      ...state.virtualServices[0]!,
      key: 'inet/tcp/203.0.113.5/80',
      service: { family: 'inet', protocol: 'tcp', address: '203.0.113.5', port: 80, scheduler: 'rr' },
      origin: { service: 'default/web', portName: 'http', servicePort: 80, protocol: 'tcp', kind: 'LoadBalancer', trafficPolicy: 'Cluster', notes: [], sourceRanges: ['10.0.0.0/8', '192.168.0.0/16'], allowFromNode },
    }],
  });
  const kernel = [{ service: svcInfo('203.0.113.5', 80), servers: [rs('10.244.1.2', 8080)] }];
  const closed = formatExplain('203.0.113.5:80', joinView(kernel, lbState(false)), lbState(false));
  assert.match(closed, /loadBalancerSourceRanges: 10\.0\.0\.0\/8, 192\.168\.0\.0\/16; other clients are dropped, and so is the node itself/);
  const open = formatExplain('203.0.113.5:80', joinView(kernel, lbState(true)), lbState(true));
  assert.match(open, /loadBalancerSourceRanges: 10\.0\.0\.0\/8, 192\.168\.0\.0\/16; other clients are dropped$/m);
  assert.doesNotMatch(formatExplain('10.96.0.10:80', joinView([{ service: svcInfo('10.96.0.10', 80), servers: [] }], state), state), /loadBalancerSourceRanges/);
});
