// kipvs list/explain in iptables mode: the rules iptables-save shows, followed from each frontend to the
// DNAT of each endpoint, joined with the agent's state. The rule text comes from the renderer kipvs writes
// the kernel with (what a node really holds, in restore syntax), and from a snippet in the exact form
// iptables-nft-save prints (option order, /32 masks, 11-decimal probabilities).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderIptablesMode } from '../../src/backends/iptables/render.js';
import { endpointChain, portChains } from '../../src/backends/iptables/chains.js';
import {
  parseIptablesNat, joinIptablesView, formatIptablesList, formatIptablesExplain, selectIptablesViews, NODE_ADDRESSES, type IptablesView,
} from '../../src/inspect/iptables-view.js';
import type { AgentState } from '../../src/agent/state.js';
import type { ServicePortDesired } from '../../src/model/types.js';

/** A Service port as the model gives it; endpoints as [address, port, on this node]. */
function port(name: string, protocol: 'tcp' | 'udp', clusterIP: string, p: number, eps: [string, number, boolean?][], more: Partial<ServicePortDesired> = {}): ServicePortDesired {
  const endpoints = eps.map(([address, epPort, local]) => ({ address, port: epPort, local: local ?? false }));
  const [service, portName] = name.split(':') as [string, string];
  return {
    name, service, portName, family: clusterIP.includes(':') ? 'inet6' : 'inet', protocol, port: p, clusterIP,
    externalIPs: [], loadBalancerIPs: [], sourceRanges: [], internalLocal: false, externalLocal: false,
    clusterEndpoints: endpoints, localEndpoints: endpoints.filter((e) => e.local), hasEndpoints: endpoints.length > 0, notes: [], ...more,
  };
}

const PORTS: ServicePortDesired[] = [
  port('kube-system/kube-dns:dns', 'udp', '10.96.0.10', 53, [['10.244.2.7', 53], ['10.244.1.5', 53]]),
  port('default/web:http', 'tcp', '10.96.0.20', 80, [['10.244.1.2', 8080, true], ['10.244.2.3', 8080], ['10.244.3.4', 8080]], { nodePort: 30080, affinitySeconds: 10800 }),
  port('default/local:http', 'tcp', '10.96.0.30', 80, [['10.244.1.8', 8080, true], ['10.244.2.9', 8080]], {
    nodePort: 30090, loadBalancerIPs: ['203.0.113.10'], sourceRanges: ['192.0.2.0/24'], externalLocal: true,
  }),
  port('default/empty:http', 'tcp', '10.96.0.40', 80, [], { externalIPs: ['198.51.100.7'] }),
  port('default/far:http', 'tcp', '10.96.0.50', 80, [['10.244.2.20', 8080]], { loadBalancerIPs: ['203.0.113.20'], externalLocal: true }),
  port('default/v6:http', 'tcp', 'fd00::10', 80, [['fd00:244::1', 8080], ['fd00:244::2', 8080]]),
];

function state(ports: ServicePortDesired[]): AgentState {
  return {
    node: 'n1', mode: 'iptables', source: 'test', startedAt: '2026-01-01T00:00:00.000Z', synced: true, virtualServices: [],
    servicePorts: ports, iptablesBackend: 'nft', boundAddresses: [], draining: [], warnings: [], healthCheckNodePorts: [],
  };
}

/** Render one family's rules and read them back (the restore text holds both tables). */
function kernel(family: 'inet' | 'inet6') {
  const { text } = renderIptablesMode({ family, ports: PORTS, localDetector: { kind: 'cidr', cidr: family === 'inet' ? '10.244.0.0/16' : 'fd00:244::/64' }, nodeIP: '192.168.0.2' });
  return parseIptablesNat(text, text);
}

const views = joinIptablesView([kernel('inet'), kernel('inet6')], state(PORTS));
const find = (name: string, kind: string): IptablesView => {
  const v = views.find((x) => x.name === name && x.kind === kind);
  assert.ok(v, `${name} ${kind}`);
  return v;
};
const sep = (name: string, proto: 'tcp' | 'udp', ep: string) => endpointChain(name, proto, ep);
const shareSum = (v: IptablesView) => v.balancers.map((b) => b.endpoints.reduce((s, e) => s + e.share, 0));

test('rendered rules: a ClusterIP frontend followed to its endpoints, probabilities and shares', () => {
  const dns = find('kube-system/kube-dns:dns', 'ClusterIP');
  const svc = portChains('kube-system/kube-dns:dns', 'udp').svc;
  assert.deepEqual([dns.family, dns.address, dns.protocol, dns.port, dns.chain, dns.inKernel], ['inet', '10.96.0.10', 'udp', 53, svc, true]);
  assert.deepEqual(dns.routes, [{ when: [], chains: [svc], masquerade: 'not from 10.244.0.0/16', balancer: svc }]);
  assert.deepEqual(dns.balancers[0]!.endpoints.map((e) => [e.endpoint, e.chain, e.probability ?? null, e.share, e.hairpin, e.drift ?? null]), [
    ['10.244.1.5:53', sep('kube-system/kube-dns:dns', 'udp', '10.244.1.5:53'), '0.5000000000', 0.5, true, null],
    ['10.244.2.7:53', sep('kube-system/kube-dns:dns', 'udp', '10.244.2.7:53'), null, 0.5, true, null],
  ]);
  assert.deepEqual(dns.drift, []);
  assert.equal(dns.servicePort?.internalTrafficPolicy, 'Cluster');
});

test('rendered rules: three endpoints with affinity, and the NodePort through KUBE-EXT', () => {
  const web = find('default/web:http', 'ClusterIP');
  const eps = web.balancers[0]!.endpoints;
  assert.deepEqual(eps.map((e) => e.probability ?? null), ['0.3333333333', '0.5000000000', null]);
  for (const e of eps) assert.ok(Math.abs(e.share - 1 / 3) < 1e-9, String(e.share));
  assert.ok(Math.abs(shareSum(web)[0]! - 1) < 1e-9);
  assert.deepEqual(eps.map((e) => e.affinitySeconds), [10800, 10800, 10800]);
  assert.deepEqual(eps.map((e) => e.local), [true, false, false]);
  const np = find('default/web:http', 'NodePort');
  const c = portChains('default/web:http', 'tcp');
  assert.deepEqual([np.address, np.port, np.chain], [NODE_ADDRESSES, 30080, c.ext]);
  assert.deepEqual(np.routes, [{ when: [], chains: [c.ext, c.svc], masquerade: 'yes', balancer: c.svc }]);
  assert.match(formatIptablesExplain('10.96.0.20:80', [web]), /session affinity ClientIP: a client returns to its endpoint for 10800s/);
});

test('rendered rules: eTP Local load balancer with source ranges: routes by source, SVC and SVL', () => {
  const lb = find('default/local:http', 'LoadBalancer');
  const c = portChains('default/local:http', 'tcp');
  const from = 'from 192.0.2.0/24';
  assert.equal(lb.chain, c.fw);
  assert.deepEqual(lb.routes.map((r) => [r.when, r.chains, r.masquerade ?? null, r.balancer ?? r.end]), [
    [[from, 'from 10.244.0.0/16'], [c.fw, c.ext, c.svc], null, c.svc],
    [[from, 'from this node'], [c.fw, c.ext, c.svc], 'yes', c.svc],
    [[from], [c.fw, c.ext, c.svl], null, c.svl],
    [[], [c.fw], null, 'other traffic to default/local:http will be dropped by KUBE-PROXY-FIREWALL'],
  ]);
  assert.deepEqual(lb.balancers.map((b) => [b.chain, b.endpoints.map((e) => e.endpoint)]), [[c.svc, ['10.244.1.8:8080', '10.244.2.9:8080']], [c.svl, ['10.244.1.8:8080']]]);
  assert.equal(lb.balancers[1]!.endpoints[0]!.share, 1);
  assert.deepEqual(lb.filter.map((f) => [f.chain, f.verdict]), [['KUBE-PROXY-FIREWALL', 'DROP']]);
  assert.equal(lb.servicePort?.externalTrafficPolicy, 'Local');
  const text = formatIptablesExplain('203.0.113.10:80', [lb]);
  assert.match(text, /^203\.0\.113\.10:80\/tcp → Service default\/local:http \(LoadBalancer, eTP Local\)\n/);
  assert.ok(text.includes(`\n  from 192.0.2.0/24 and from this node: chain ${c.fw} → ${c.ext} → ${c.svc} (masqueraded)\n  from 192.0.2.0/24: chain ${c.fw} → ${c.ext} → ${c.svl}\n`), text);
  assert.match(text, /\n {2}KUBE-SVL-\S+: 1 endpoint: 10\.244\.1\.8:8080 via KUBE-SEP-\S+ \(all new connections\) \[on this node\]\n/);
  assert.match(text, /sources outside loadBalancerSourceRanges are dropped \(filter KUBE-PROXY-FIREWALL DROP\)/);
});

test('rendered rules: no endpoints (REJECT) and no local endpoints (DROP) come from filter', () => {
  const empty = find('default/empty:http', 'ClusterIP');
  assert.deepEqual([empty.routes, empty.balancers, empty.filter], [[], [], [{ verdict: 'REJECT', chain: 'KUBE-SERVICES', comment: 'default/empty:http has no endpoints' }]]);
  const ext = find('default/empty:http', 'ExternalIP');
  assert.deepEqual([ext.address, ext.filter.map((f) => `${f.chain} ${f.verdict}`)], ['198.51.100.7', ['KUBE-EXTERNAL-SERVICES REJECT']]);
  assert.deepEqual(empty.drift, []);
  assert.match(formatIptablesExplain('10.96.0.40:80', [empty]), /connections are refused: the Service port has no endpoints \(filter KUBE-SERVICES REJECT\)/);
  // eTP Local without a local endpoint: pods and the node still reach all endpoints, the rest is dropped.
  const far = find('default/far:http', 'LoadBalancer');
  const c = portChains('default/far:http', 'tcp');
  assert.deepEqual(far.routes.map((r) => r.balancer ?? r.end), [c.svc, c.svc, `falls through ${c.ext}: not DNATed`]);
  assert.deepEqual(far.filter.map((f) => `${f.chain} ${f.verdict}`), ['KUBE-EXTERNAL-SERVICES DROP']);
});

test('rendered rules: IPv6, and every frontend of the agent is found (nothing reported missing)', () => {
  const v6 = find('default/v6:http', 'ClusterIP');
  assert.deepEqual([v6.family, v6.address, v6.balancers[0]!.endpoints.map((e) => e.endpoint)], ['inet6', 'fd00::10', ['[fd00:244::1]:8080', '[fd00:244::2]:8080']]);
  assert.deepEqual(views.filter((v) => !v.inKernel || v.drift.length).map((v) => `${v.name} ${v.kind} ${v.drift}`), []);
  assert.deepEqual(selectIptablesViews(views, { address: 'fd00:0::10', port: 80 }).map((v) => v.name), ['default/v6:http']);
  assert.deepEqual(selectIptablesViews(views, { address: '192.168.0.2', port: 30080 }, { nodeAddresses: ['192.168.0.2'] }).map((v) => v.kind), ['NodePort']);
  assert.deepEqual(selectIptablesViews(views, { address: '192.168.0.9', port: 30080 }, { nodeAddresses: ['192.168.0.2'] }), []);
  for (const v of views) for (const s of shareSum(v)) assert.ok(Math.abs(s - 1) < 1e-9, `${v.name}: ${s}`);
});

// As `iptables-nft-save -t nat` / `-t filter` print them: leading matches first, /32 masks, quoted comments,
// probabilities as the kernel keeps them (11 decimals), recent's options in its own order.
const NFT_NAT = `# Generated by iptables-nft-save v1.8.10 (nf_tables) on Thu Jan  1 00:00:00 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]
:KUBE-SEP-CCCCCCCCCCCCCCCC - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEBWEBWEBWEBWEBW - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SEP-AAAAAAAAAAAAAAAA -s 10.244.1.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-AAAAAAAAAAAAAAAA -p tcp -m comment --comment "default/web:http" -m recent --set --name KUBE-SEP-AAAAAAAAAAAAAAAA --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-BBBBBBBBBBBBBBBB -s 10.244.2.3/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-BBBBBBBBBBBBBBBB -p tcp -m comment --comment "default/web:http" -m recent --set --name KUBE-SEP-BBBBBBBBBBBBBBBB --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.2.3:8080
-A KUBE-SEP-CCCCCCCCCCCCCCCC -s 10.244.3.4/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-CCCCCCCCCCCCCCCC -p tcp -m comment --comment "default/web:http" -m recent --set --name KUBE-SEP-CCCCCCCCCCCCCCCC --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.3.4:8080
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEBWEBWEBWEBWEBW
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-WEBWEBWEBWEBWEBW ! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.1.2:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-AAAAAAAAAAAAAAAA --mask 255.255.255.255 --rsource -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.2.3:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-BBBBBBBBBBBBBBBB --mask 255.255.255.255 --rsource -j KUBE-SEP-BBBBBBBBBBBBBBBB
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.3.4:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-CCCCCCCCCCCCCCCC --mask 255.255.255.255 --rsource -j KUBE-SEP-CCCCCCCCCCCCCCCC
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.2.3:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BBBBBBBBBBBBBBBB
-A KUBE-SVC-WEBWEBWEBWEBWEBW -m comment --comment "default/web:http -> 10.244.3.4:8080" -j KUBE-SEP-CCCCCCCCCCCCCCCC
COMMIT
`;
const NFT_FILTER = `*filter
:INPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -d 10.96.0.40/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
`;

test('iptables-nft-save text: shares from 11-decimal probabilities, affinity, REJECT', () => {
  const t = parseIptablesNat(NFT_NAT, NFT_FILTER);
  assert.equal(t.family, 'inet');
  const [web, empty] = joinIptablesView(t, undefined).sort((a, b) => a.address.localeCompare(b.address));
  const eps = web!.balancers[0]!.endpoints;
  assert.deepEqual(eps.map((e) => [e.endpoint, e.probability ?? null, e.affinitySeconds, e.hairpin]), [
    ['10.244.1.2:8080', '0.33333333349', 10800, true], ['10.244.2.3:8080', '0.50000000000', 10800, true], ['10.244.3.4:8080', null, 10800, true],
  ]);
  assert.ok(Math.abs(eps.reduce((s, e) => s + e.share, 0) - 1) < 1e-9);
  assert.equal(web!.routes[0]!.masquerade, 'not from 10.244.0.0/16');
  assert.deepEqual([empty!.name, empty!.kind, empty!.filter[0]!.verdict], ['default/empty:http', 'ClusterIP', 'REJECT']);
  assert.equal(formatIptablesExplain('10.96.0.20:80', [web!]).split('\n')[0],
    '10.96.0.20:80/tcp → Service default/web:http (ClusterIP), chain KUBE-SVC-WEBWEBWEBWEBWEBW (masqueraded if not from 10.244.0.0/16), 3 endpoints: ' +
    '10.244.1.2:8080 via KUBE-SEP-AAAAAAAAAAAAAAAA p=0.33333333349 (33.3% of new connections), ' +
    '10.244.2.3:8080 via KUBE-SEP-BBBBBBBBBBBBBBBB p=0.50000000000 (33.3% of new connections), ' +
    '10.244.3.4:8080 via KUBE-SEP-CCCCCCCCCCCCCCCC (the rest, 33.3%); session affinity ClientIP: a client returns to its endpoint for 10800s');
  assert.equal(formatIptablesList([web!, empty!]),
    'TCP 10.96.0.20:80  default/web:http ClusterIP  KUBE-SVC-WEBWEBWEBWEBWEBW (masqueraded if not from 10.244.0.0/16)\n' +
    '    -> 10.244.1.2:8080  33.3% p=0.33333333349  KUBE-SEP-AAAAAAAAAAAAAAAA  affinity 10800s\n' +
    '    -> 10.244.2.3:8080  33.3% p=0.50000000000  KUBE-SEP-BBBBBBBBBBBBBBBB  affinity 10800s\n' +
    '    -> 10.244.3.4:8080  33.3% rest  KUBE-SEP-CCCCCCCCCCCCCCCC  affinity 10800s\n' +
    'TCP 10.96.0.40:80  default/empty:http ClusterIP  REJECT (has no endpoints)\n');
});

test('drift: an endpoint the agent chose is missing from the kernel, one in the kernel was not chosen', () => {
  const want = port('default/web:http', 'tcp', '10.96.0.20', 80, [['10.244.1.2', 8080], ['10.244.2.3', 8080], ['10.244.9.9', 8080]], { affinitySeconds: 10800, nodePort: 30080 });
  const joined = joinIptablesView(parseIptablesNat(NFT_NAT, NFT_FILTER), state([want]));
  const [empty, web, np] = joined;
  assert.deepEqual(joined.map((v) => `${v.name} ${v.kind}`), ['default/empty:http ClusterIP', 'default/web:http ClusterIP', 'default/web:http NodePort']);
  const b = web!.balancers[0]!;
  assert.deepEqual(b.missing, ['10.244.9.9:8080']);
  assert.deepEqual(b.endpoints.map((e) => e.drift ?? null), [null, null, 'in the kernel, not chosen by the agent']);
  // The kernel has no NodePort rule for it, and still has rules for a Service port the agent does not know.
  assert.deepEqual([np!.kind, np!.inKernel, np!.drift], ['NodePort', false, ['wanted by the agent, missing from the kernel']]);
  assert.match(empty!.drift[0]!, /no Service port of the agent has this name/);
  const text = formatIptablesExplain('10.96.0.20:80', [web!]);
  assert.match(text, /drift: chosen by the agent, missing from the kernel: 10\.244\.9\.9:8080/);
  assert.match(text, /10\.244\.3\.4:8080 via KUBE-SEP-CCCCCCCCCCCCCCCC \(the rest, 33\.3%\) \[drift: in the kernel, not chosen by the agent\]/);
  assert.match(formatIptablesList([web!, np!]), /-> 10\.244\.9\.9:8080 {2}\[drift: chosen by the agent, missing from the kernel\]\nTCP node addresses:30080 {2}default\/web:http NodePort {2}\[missing from kernel\]\n$/);
  assert.equal(formatIptablesExplain('10.1.2.3:80', []), '10.1.2.3:80: no rule of kube-proxy\'s iptables mode serves this address.\n');
});
