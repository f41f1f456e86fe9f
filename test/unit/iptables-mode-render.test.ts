// kube-proxy's iptables mode, rendered: compared literally with the expected iptables-restore input of
// kube-proxy's own tests (pkg/proxy/iptables/proxier_test.go: TestOverallIPTablesRules,
// TestSyncProxyRulesRepeated, TestEndpointCommentElision, TestComputeProbability, ...). Those tests sort
// the output (kube-proxy walks a Go map, so its Service order is random); sortDump below sorts ours the
// same way before comparing. Chain names are literals taken from those expected outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointChain, endpointString, isServiceChainName, portChains, probability } from '../../src/backends/iptables/chains.js';
import { renderIptablesMode, type RenderInput, type RenderResult } from '../../src/backends/iptables/render.js';
import type { PortEndpoint, ServicePortDesired } from '../../src/model/types.js';

type PortSpec = Partial<ServicePortDesired> & { name: string; clusterIP: string; port: number };

/** A Service port as the model gives it; endpoints as "ip:port" (local with a trailing "*"). */
function sp(o: PortSpec & { eps?: string[] }): ServicePortDesired {
  const eps: PortEndpoint[] = (o.eps ?? []).map((t) => {
    const local = t.endsWith('*');
    const s = local ? t.slice(0, -1) : t;
    const i = s.lastIndexOf(':');
    return { address: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)), local };
  });
  const service = o.name.split(':')[0]!;
  return {
    service, portName: o.name.split(':')[1] ?? '', family: o.clusterIP.includes(':') ? 'inet6' : 'inet', protocol: 'tcp',
    externalIPs: [], loadBalancerIPs: [], sourceRanges: [], internalLocal: false, externalLocal: false,
    clusterEndpoints: eps, localEndpoints: eps.filter((e) => e.local), hasEndpoints: eps.length > 0, notes: [],
    ...o,
  };
}

/** kube-proxy's test proxier: pod CIDR 10.0.0.0/8, node 192.168.0.2, localhost NodePorts, nfacct counters. */
const FAKE: Omit<RenderInput, 'ports'> = {
  family: 'inet', localDetector: { kind: 'cidr', cidr: '10.0.0.0/8' }, nodeIP: '192.168.0.2', nfacct: true,
};

/**
 * Sort restore text as kube-proxy's sortIPTablesRules does: tables by name; chains with KUBE-NODEPORTS
 * first, KUBE-SERVICES second, then by name; rules grouped by chain in their own order, except that
 * KUBE-NODEPORTS and KUBE-SERVICES are ordered by the Service in their comment (stable), keeping nat
 * KUBE-SERVICES' "must be the last rule" last; deletions after the rules.
 */
function sortDump(text: string): string {
  const out: string[] = [];
  const tables = text.split(/^COMMIT\n/m).filter((t) => t.trim() !== '').map((t) => t.trim().split('\n'));
  tables.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  const rank = (c: string) => (c === 'KUBE-NODEPORTS' ? '0' : c === 'KUBE-SERVICES' ? '1' : c.startsWith('KUBE-') ? `2${c}` : `3${c}`);
  const svcOf = (r: string) => /--comment "?([^ :"]*)/.exec(r)?.[1] ?? '';
  for (const lines of tables) {
    const chains = lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
    chains.sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
    const rules = new Map<string, string[]>(chains.map((c) => [c, []]));
    for (const l of lines.filter((x) => x.startsWith('-A '))) rules.get(l.split(' ')[1]!)!.push(l);
    for (const c of ['KUBE-NODEPORTS', 'KUBE-SERVICES']) {
      const last = (r: string) => (r.includes('must be the last rule') ? 1 : 0);
      rules.get(c)?.sort((a, b) => last(a) - last(b) || (last(a) ? 0 : svcOf(a) < svcOf(b) ? -1 : svcOf(a) > svcOf(b) ? 1 : 0));
    }
    out.push(lines[0]!, ...chains.map((c) => `:${c} - [0:0]`), ...chains.flatMap((c) => rules.get(c)!));
    out.push(...lines.filter((l) => l.startsWith('-X ')).sort(), 'COMMIT');
  }
  return out.join('\n') + '\n';
}

/** kube-proxy's expected text: dedented, without the leading blank line. */
const kp = (s: string): string => s.replace(/^\n/, '').replace(/^[ \t]+/gm, '');

function render(ports: ServicePortDesired[], extra: Partial<RenderInput> = {}): RenderResult {
  return renderIptablesMode({ ...FAKE, ports, ...extra });
}

test('chain names: the public example and names from kube-proxy test expectations', () => {
  assert.equal(portChains('default/kubernetes:https', 'tcp').svc, 'KUBE-SVC-NPX46M4PTMTKRN6Y');
  const c = portChains('ns5/svc5:p80', 'tcp');
  assert.deepEqual(c, { svc: 'KUBE-SVC-NUKIZ6OKUXPJNT4C', svl: 'KUBE-SVL-NUKIZ6OKUXPJNT4C', ext: 'KUBE-EXT-NUKIZ6OKUXPJNT4C', fw: 'KUBE-FW-NUKIZ6OKUXPJNT4C' });
  for (const [name, want] of [['ns1/svc1:p80', 'XPGD46QRK7WJZT7O'], ['ns2/svc2:p80', 'GNZBNJ2PO5MGZ6GT'], ['ns3/svc3:p80', 'X27LE4BHSL4DOUIK'],
    ['ns4/svc4:p80', '4SW47YFZTEDKD3PK'], ['ns2/svc2:p8080', '2VJB64SDSIJUP5T6'], ['ns4/svc4:p8082', 'EBDQOQU5SJFXRIL3']]) {
    assert.equal(portChains(name!, 'tcp').svc, `KUBE-SVC-${want}`, name);
  }
  for (const [name, ep, want] of [['ns1/svc1:p80', '10.180.0.1:80', 'SXIVWICOYRO3J4NJ'], ['ns5/svc5:p80', '10.180.0.3:80', 'I77PXRDZVX7PMWMN'],
    ['ns3/svc3:p80', '10.180.0.3:80', 'OYPFS5VJICHGATKP'], ['ns4/svc4:p80', '10.180.0.5:80', 'C6EBXVWJJZMIWKLZ'], ['ns1/svc1:p80', '10.0.1.1:80', 'SNQ3ZNILQDEJNDQO'],
    ['ns2/svc2:p8080', '10.0.2.1:8080', 'UHEGFW77JX3KXTOV'], ['ns3/svc3:p8081', '203.0.113.4:8081', 'RUVVH7YV3PHQBDOS'], ['ns4/svc4:p8082', '10.4.0.1:8082', 'SU5STNODRYEWJAUF']]) {
    assert.equal(endpointChain(name!, 'tcp', ep!), `KUBE-SEP-${want}`, `${name} ${ep}`);
  }
  assert.equal(endpointString('fd00:10:180::1', 80), '[fd00:10:180::1]:80');
  assert.equal(endpointString('10.1.2.3', 53), '10.1.2.3:53');
  assert.ok(isServiceChainName('KUBE-FW-X') && isServiceChainName('KUBE-SVL-X') && !isServiceChainName('KUBE-SERVICES') && !isServiceChainName('KUBE-MARK-MASQ'));
});

test('probability: ten decimals as Go prints 1/n (TestComputeProbability), 1/2048 rounded half to even', () => {
  const want: Record<number, string> = { 1: '1.0000000000', 2: '0.5000000000', 3: '0.3333333333', 10: '0.1000000000', 100: '0.0100000000',
    1000: '0.0010000000', 10000: '0.0001000000', 100000: '0.0000100000', 100001: '0.0000099999', 2048: '0.0004882812', 4096: '0.0002441406' };
  for (const [n, p] of Object.entries(want)) assert.equal(probability(Number(n)), p, `1/${n}`);
  const r = render([sp({ name: 'ns/s:p', clusterIP: '172.30.0.9', port: 80, eps: ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80'] })]);
  const picks = r.text.split('\n').filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes(' -> '));
  assert.deepEqual(picks.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'last'), ['0.3333333333', '0.5000000000', 'last']);
});

const OVERALL = [
  sp({ name: 'ns1/svc1:p80', clusterIP: '172.30.0.41', port: 80, eps: ['10.180.0.1:80'] }),
  sp({ name: 'ns2/svc2:p80', clusterIP: '172.30.0.42', port: 80, nodePort: 3001, loadBalancerIPs: ['1.2.3.4'], externalIPs: ['192.168.99.22'], externalLocal: true, eps: ['10.180.0.2:80'] }),
  sp({ name: 'ns3/svc3:p80', clusterIP: '172.30.0.43', port: 80, nodePort: 3003, eps: ['10.180.0.3:80'] }),
  sp({ name: 'ns4/svc4:p80', clusterIP: '172.30.0.44', port: 80, externalIPs: ['192.168.99.33'], eps: ['10.180.0.4:80', '10.180.0.5:80*'] }),
  sp({ name: 'ns5/svc5:p80', clusterIP: '172.30.0.45', port: 80, nodePort: 3002, loadBalancerIPs: ['5.6.7.8'], sourceRanges: ['203.0.113.0/25'], affinitySeconds: 10800, eps: ['10.180.0.3:80'] }),
  sp({ name: 'ns6/svc6:p80', clusterIP: '172.30.0.46', port: 80 }),
];

test('TestOverallIPTablesRules: ClusterIP, eTP Local LB, NodePort, externalIP, source ranges + affinity, no endpoints', () => {
  const r = render(OVERALL, { healthCheckNodePorts: new Map([['ns2/svc2', 30000]]) });
  assert.equal(sortDump(r.text), kp(`
    *filter
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXTERNAL-SERVICES - [0:0]
    :KUBE-FIREWALL - [0:0]
    :KUBE-FORWARD - [0:0]
    :KUBE-PROXY-FIREWALL - [0:0]
    -A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
    -A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
    -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
    -A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
    :KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
    :KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
    :KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    :KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
    :KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
    :KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
    :KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
    :KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
    :KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
    :KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
    -A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
    -A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
    -A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
    -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
    -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
    -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
    -A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
    -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
    -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
    -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
    -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
    -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
    -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
    -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
    -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
    -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
    -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
    -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
    -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
    -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
    -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
    -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
    -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
    COMMIT
  `));
  assert.equal(r.partial, false);
  assert.equal(r.lines, r.text.split('\n').length - 1);
  const nat = r.text.slice(r.text.indexOf('*nat')).split('\n');
  assert.equal(r.total.natRules, nat.filter((l) => l.startsWith('-A ')).length);
  assert.equal(r.total.natChains, nat.filter((l) => l.startsWith(':')).length);
});

/** The filter table every sync of TestSyncProxyRulesRepeated writes (no Service has filter rules). */
const REPEATED_FILTER = `*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
{reject}-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
`;
const TAIL = `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
`;
const natSvc = (n: string, ip: string, port: number, chain: string) =>
  `-A KUBE-SERVICES -m comment --comment "${n} cluster IP" -m tcp -p tcp -d ${ip} --dport ${port} -j KUBE-SVC-${chain}\n`;
const repeated = (reject: string, chains: string[], services: string, rest: string) =>
  REPEATED_FILTER.replace('{reject}', reject) + ':KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n' +
  chains.map((c) => `:${c} - [0:0]\n`).join('') + services + TAIL + rest + 'COMMIT\n';

test('TestSyncProxyRulesRepeated: partial syncs write only the changed Services and delete unused chains', () => {
  const svc1 = sp({ name: 'ns1/svc1:p80', clusterIP: '172.30.0.41', port: 80, eps: ['10.0.1.1:80'] });
  const svc2 = sp({ name: 'ns2/svc2:p8080', clusterIP: '172.30.0.42', port: 8080, eps: ['10.0.2.1:8080'] });
  const svc3 = (...eps: string[]) => sp({ name: 'ns3/svc3:p80', clusterIP: '172.30.0.43', port: 80, eps });
  const svc4 = (...eps: string[]) => sp({ name: 'ns4/svc4:p80', clusterIP: '172.30.0.44', port: 80, eps });
  // The kernel after each restore: the chains the rule set uses (deleted ones are gone).
  let kernel = new Set<string>();
  const sync = (ports: ServicePortDesired[], changed?: string[]) => {
    const r = render(ports, { existingChains: kernel, ...(changed ? { changedServices: new Set(changed) } : {}) });
    kernel = r.activeChains;
    return r;
  };
  const full = sync([svc1, svc2]);
  assert.equal(sortDump(full.text), repeated('', ['KUBE-SEP-SNQ3ZNILQDEJNDQO', 'KUBE-SEP-UHEGFW77JX3KXTOV', 'KUBE-SVC-2VJB64SDSIJUP5T6', 'KUBE-SVC-XPGD46QRK7WJZT7O'],
    natSvc('ns1/svc1:p80', '172.30.0.41', 80, 'XPGD46QRK7WJZT7O') + natSvc('ns2/svc2:p8080', '172.30.0.42', 8080, '2VJB64SDSIJUP5T6'), kp(`
    -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
    -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
    -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
  `)));
  assert.equal(full.total.natRules, 15);

  // A new Service: only its SVC and SEP chains are written.
  const add3 = sync([svc1, svc2, svc3('10.0.3.1:80')], ['ns3/svc3']);
  assert.equal(sortDump(add3.text), repeated('', ['KUBE-SEP-BSWRHOQ77KEXZLNL', 'KUBE-SVC-X27LE4BHSL4DOUIK'],
    natSvc('ns1/svc1:p80', '172.30.0.41', 80, 'XPGD46QRK7WJZT7O') + natSvc('ns2/svc2:p8080', '172.30.0.42', 8080, '2VJB64SDSIJUP5T6') +
    natSvc('ns3/svc3:p80', '172.30.0.43', 80, 'X27LE4BHSL4DOUIK'), kp(`
    -A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL
  `)));
  assert.deepEqual([add3.written.natRules, add3.total.natRules], [12, 20], 'kube-proxy: 5 rules added to 15');

  // A Service deleted: its chains are flushed and deleted.
  const del2 = sync([svc1, svc3('10.0.3.1:80')], ['ns2/svc2']);
  assert.equal(sortDump(del2.text), repeated('', ['KUBE-SEP-UHEGFW77JX3KXTOV', 'KUBE-SVC-2VJB64SDSIJUP5T6'],
    natSvc('ns1/svc1:p80', '172.30.0.41', 80, 'XPGD46QRK7WJZT7O') + natSvc('ns3/svc3:p80', '172.30.0.43', 80, 'X27LE4BHSL4DOUIK'),
    '-X KUBE-SEP-UHEGFW77JX3KXTOV\n-X KUBE-SVC-2VJB64SDSIJUP5T6\n'));
  assert.deepEqual([del2.written.deletedChains, del2.total.natRules], [2, 15]);

  // A Service without endpoints: a REJECT in filter, nothing in nat.
  const add4 = sync([svc1, svc3('10.0.3.1:80'), svc4()], ['ns4/svc4']);
  assert.equal(sortDump(add4.text), repeated('-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT\n', [],
    natSvc('ns1/svc1:p80', '172.30.0.41', 80, 'XPGD46QRK7WJZT7O') + natSvc('ns3/svc3:p80', '172.30.0.43', 80, 'X27LE4BHSL4DOUIK'), ''));

  const ready4 = sync([svc1, svc3('10.0.3.1:80'), svc4('10.0.4.1:80')], ['ns4/svc4']);
  assert.ok(ready4.text.includes(':KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]\n') && ready4.text.includes(':KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]\n'));
  assert.ok(!ready4.text.includes(':KUBE-SVC-X27LE4BHSL4DOUIK') && !ready4.text.includes('-X '));

  // An endpoint replaced: the Service's chains rewritten, the old endpoint's chain deleted.
  const moved = sync([svc1, svc3('10.0.3.2:80'), svc4('10.0.4.1:80')], ['ns3/svc3']);
  const nat = (t: string) => t.slice(t.indexOf('*nat'));
  assert.deepEqual(nat(sortDump(moved.text)).split('\n').filter((l) => /^(:KUBE-S(EP|VC)-|-A KUBE-S(EP|VC)-|-X)/.test(l)), kp(`
    :KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
    :KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
    :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
    -A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
    -A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC
    -X KUBE-SEP-BSWRHOQ77KEXZLNL`).split('\n'));

  // An endpoint added: two picks, the first with probability 1/2.
  const two = sync([svc1, svc3('10.0.3.2:80', '10.0.3.3:80'), svc4('10.0.4.1:80')], ['ns3/svc3']);
  assert.ok(two.text.includes('-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC\n'));
  assert.ok(two.text.includes('-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS\n'));
  assert.deepEqual([two.written.natRules, two.total.natRules], [15, 23], 'kube-proxy: 3 rules added to 20');

  // A partial sync whose Service chains are missing from the kernel writes them anyway.
  kernel = new Set([...kernel].filter((c) => c !== 'KUBE-SVC-XPGD46QRK7WJZT7O'));
  const repaired = sync([svc1, svc3('10.0.3.2:80', '10.0.3.3:80'), svc4('10.0.4.1:80')], []);
  assert.ok(repaired.text.includes(':KUBE-SVC-XPGD46QRK7WJZT7O') && !repaired.text.includes(':KUBE-SVC-X27LE4BHSL4DOUIK'));
});

test('TestEndpointCommentElision: above 1000 endpoints the per-endpoint comments go', () => {
  const many = (ns: string, port: number, net: string, n: number) => sp({ name: `${ns}:p${port}`, clusterIP: '172.30.0.41', port,
    eps: Array.from({ length: n }, (_, i) => `${net}.${i % 256}.${Math.floor(i / 256)}:${port}`) });
  const a = many('ns1/svc1', 80, '10.0', 499), b = many('ns2/svc2', 8080, '10.1', 499);
  const small = render([a, b]);
  assert.equal(small.largeClusterMode, false);
  assert.ok(small.text.includes('\n-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80\n'));
  const c = sp({ name: 'ns3/svc3:p8081', clusterIP: '172.30.0.43', port: 8081, eps: ['203.0.113.4:8081', '203.0.113.8:8081', '203.0.113.12:8081'] });
  const big = render([a, b, c], { existingChains: small.activeChains, changedServices: new Set(['ns3/svc3']) });
  assert.equal(big.largeClusterMode, true);
  assert.ok(big.text.includes('\n-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081\n'));
  assert.ok(!big.text.includes('DKGQUZGBKLTPAR56'), 'the unchanged Services are not rewritten');
  assert.ok(!/-> 203/.test(big.text), 'no "svc -> endpoint" comments either');
});

test('small rules of kube-proxy tests: INVALID drop, MASQUERADE --random-fully, KUBE-FIREWALL', () => {
  const chain = (t: string, c: string) => t.split('\n').filter((l) => l.startsWith(`-A ${c} `)).join('\n');
  const fwd = '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT\n' +
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT';
  assert.equal(chain(render([], { nfacct: false }).text, 'KUBE-FORWARD'), '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n' + fwd);
  assert.equal(chain(render([], { conntrackTCPLiberal: true }).text, 'KUBE-FORWARD'), fwd);
  assert.equal(chain(render([], { randomFully: true }).text, 'KUBE-POSTROUTING').split('\n')[2],
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  assert.equal(chain(render([], { masqueradeBit: 3 }).text, 'KUBE-MARK-MASQ'), '-A KUBE-MARK-MASQ -j MARK --or-mark 0x8');
  // TestNodePorts: the anti-martian rule exists only for IPv4 with localhost NodePorts.
  const fw = (o: Partial<RenderInput>) => chain(render([], o).text, 'KUBE-FIREWALL');
  assert.match(fw({}), /block incoming localnet connections/);
  assert.equal(fw({ localhostNodePorts: false }), '');
  assert.equal(fw({ nodePortAddresses: ['192.168.0.2'] }), '', 'no loopback among the NodePort addresses');
  assert.equal(fw({ family: 'inet6', localDetector: { kind: 'cidr', cidr: 'fd00:10::/64' } }), '');
  const last = (o: Partial<RenderInput>) => chain(render([], o).text, 'KUBE-SERVICES').replace(/.*this chain" /, '');
  assert.equal(last({ localhostNodePorts: false }), '-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS');
  assert.equal(last({ family: 'inet6' }), '-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS');
  assert.equal(last({ nodePortAddresses: ['192.168.0.2', '127.0.0.1', '2001:db8::1'], localhostNodePorts: false }), '-d 192.168.0.2 -j KUBE-NODEPORTS');
  assert.equal(last({ nodePortAddresses: ['192.168.0.2', '127.0.0.1'] }).split('\n').length, 2);
});

test('IPv6: bracketed endpoints, plain sources; load balancer source ranges that admit the node', () => {
  const r = renderIptablesMode({
    family: 'inet6', localDetector: { kind: 'interfacePrefix', prefix: 'veth' }, nodeIP: 'fd00:1::2',
    ports: [sp({ name: 'ns/v6:http', clusterIP: 'fd00:172:30::41', port: 80, loadBalancerIPs: ['2001:db8::7'], sourceRanges: ['fd00:1::/64'], eps: ['[fd00:10:180::1]:8080'] }),
      sp({ name: 'ns/v4:http', clusterIP: '172.30.0.1', port: 80, eps: ['10.1.1.1:80'] })],
  });
  const sep = endpointChain('ns/v6:http', 'tcp', '[fd00:10:180::1]:8080');
  const fw = portChains('ns/v6:http', 'tcp').fw, ext = portChains('ns/v6:http', 'tcp').ext;
  assert.ok(r.text.includes(`-A ${sep} -m comment --comment ns/v6:http -s fd00:10:180::1 -j KUBE-MARK-MASQ\n`));
  assert.ok(r.text.includes(`-A ${sep} -m comment --comment ns/v6:http -m tcp -p tcp -j DNAT --to-destination [fd00:10:180::1]:8080\n`));
  assert.ok(r.text.includes('! -i veth+ -j KUBE-MARK-MASQ\n'));
  assert.ok(r.text.includes(`-A ${fw} -m comment --comment "ns/v6:http loadbalancer IP" -s fd00:1::/64 -j ${ext}\n-A ${fw} -m comment --comment "ns/v6:http loadbalancer IP" -s 2001:db8::7 -j ${ext}\n`));
  assert.ok(!r.text.includes('172.30.0.1'), 'ports of the other family are left out');
  assert.ok(!r.text.includes('KUBE-FIREWALL'));
});

test('internalTrafficPolicy Local without local endpoints drops; with one, KUBE-SVL is the cluster IP target', () => {
  const svl = portChains('ns/itp:p', 'tcp').svl;
  const none = render([sp({ name: 'ns/itp:p', clusterIP: '172.30.0.50', port: 80, internalLocal: true, eps: ['10.9.0.1:80'] })]);
  assert.ok(none.text.includes('-A KUBE-SERVICES -m comment --comment "ns/itp:p has no local endpoints" -m tcp -p tcp -d 172.30.0.50 --dport 80 -j DROP\n'));
  assert.equal(none.activeChains.size, 0);
  const one = render([sp({ name: 'ns/itp:p', clusterIP: '172.30.0.50', port: 80, internalLocal: true, eps: ['10.9.0.1:80', '10.9.0.2:80*'] })]);
  assert.ok(one.text.includes(`-d 172.30.0.50 --dport 80 -j ${svl}\n`));
  assert.deepEqual([...one.activeChains].map((c) => c.slice(0, 9)), ['KUBE-SVL-', 'KUBE-SEP-'], 'only the local endpoint is reachable');
});

test('unused per-Service chains in the kernel are flushed and deleted; other chains are not touched', () => {
  const r = render([], { existingChains: ['KUBE-SVC-AAAA', 'KUBE-SEP-BBBB', 'KUBE-MARK-DROP', 'KUBE-SERVICES', 'CUSTOM'] });
  assert.match(r.text, /\n:KUBE-SVC-AAAA - \[0:0\]\n:KUBE-SEP-BBBB - \[0:0\]\n-A KUBE-POSTROUTING /, 'declared (flushed) after the top-level chains');
  assert.match(r.text, /\n-X KUBE-SVC-AAAA\n-X KUBE-SEP-BBBB\n-A KUBE-SERVICES .*-j KUBE-NODEPORTS\nCOMMIT\n$/, 'deleted before the last KUBE-SERVICES rule, as kube-proxy orders it');
  assert.ok(!r.text.includes('KUBE-MARK-DROP') && !r.text.includes('CUSTOM'));
  assert.equal(r.written.deletedChains, 2);
});
