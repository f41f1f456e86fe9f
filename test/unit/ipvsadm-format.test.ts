// ipvsadm's text formats as kipvs prints them, from tables built by hand (no kernel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  largenum, glibcMsort, cmpServices, sortServices, sortDests, listAll, serviceEntry, addrportToAnyname, daemonLines, timeoutLine,
  type TableEntry, type NameSource,
} from '../../src/cli/ipvsadm/format.js';
import { FMT, AF } from '../../src/cli/ipvsadm/args.js';
import { parseConnLine, parseConnTable, connLine, connHeader } from '../../src/cli/ipvsadm/conn.js';
import { parseServices } from '../../src/cli/ipvsadm/names.js';
import { servicesJson, servicesWide } from '../../src/cli/ipvsadm/output.js';
import type { RealServerInfo, ServiceInfo, Stats } from '../../src/ipvs/types.js';

const numeric: NameSource = { name: (a) => a };
const named: NameSource = { name: (a) => (a === '10.0.0.1' ? 'vip.example' : a === '10.0.1.1' ? 'a-backend-with-a-really-long-host-name.example' : a) };
const zero: Stats = { conns: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n };

const svc = (over: Partial<ServiceInfo> & Record<string, unknown>): ServiceInfo & { stats: Stats } => ({
  family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr', flags: 0, onePacket: false, schedulerFlags: {}, stats: zero, ...over,
} as ServiceInfo & { stats: Stats });
const dest = (address: string, port: number, over: Partial<RealServerInfo & { stats: Stats }> = {}): RealServerInfo & { stats: Stats } => ({
  address, port, family: 'inet', forward: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0, activeConns: 0, inactiveConns: 0, persistentConns: 0, stats: zero, ...over,
});

test('print_largenum: 9 wide, K/M/G/T suffixes, --exact widens', () => {
  assert.equal(largenum(0n, 0), '        0');
  assert.equal(largenum(99999999n, 0), ' 99999999');
  assert.equal(largenum(100000000n, 0), '  100000K');
  assert.equal(largenum(1000000000n, 0), '    1000M');
  assert.equal(largenum(100000000000n, 0), '     100G');
  assert.equal(largenum(100000000000000n, 0), '     100T');
  assert.equal(largenum(12n, FMT.EXACT), '       12');
  assert.equal(largenum(123456789012n, FMT.EXACT), ' 123456789012');
});

test('sorting: glibc merge sort with ipvsadm\'s wrapping comparators', () => {
  // A consistent comparator: same as a stable sort.
  const xs = [5, 3, 9, 1, 3, 7, 2, 8, 0, 6];
  assert.deepEqual(glibcMsort(xs, (a, b) => a - b), [...xs].sort((a, b) => a - b));
  // Addresses 2^31 or more apart compare "backwards": 200.0.0.1 < 10.0.0.1 in ipvsadm.
  const k = (a: number) => ({ fwmark: 0, af: AF.INET, protocol: 6, w: [a, 0, 0, 0], port: 80 });
  assert.ok(cmpServices(k(0xc8000001), k(0x0a000001)) < 0);
  assert.ok(cmpServices(k(0x0a000001), k(0x0b000001)) < 0);
  // fwmarks at 2^31 and above sort before services without a mark.
  const sorted = sortServices([
    { service: svc({ address: '10.0.0.2' }), servers: [] },
    { service: svc({ fwmark: 3000000000, protocol: undefined, address: undefined, port: undefined }), servers: [] },
    { service: svc({ fwmark: 5, protocol: undefined, address: undefined, port: undefined }), servers: [] },
    { service: svc({ address: '200.0.0.1' }), servers: [] },
    { service: svc({ address: '10.0.0.1', port: 443 }), servers: [] },
    { service: svc({ address: '10.0.0.1', port: 80, protocol: 'udp' }), servers: [] },
  ]);
  assert.deepEqual(sorted.map((e) => e.service.fwmark ?? `${e.service.protocol} ${e.service.address}:${e.service.port}`),
    [3000000000, 'tcp 200.0.0.1:80', 'tcp 10.0.0.1:443', 'tcp 10.0.0.2:80', 'udp 10.0.0.1:80', 5]);
  const ds = sortDests([dest('10.0.0.2', 80), dest('200.0.0.1', 80), dest('10.0.0.1', 81), dest('10.0.0.1', 80)]);
  assert.deepEqual(ds.map((d) => `${d.address}:${d.port}`), ['200.0.0.1:80', '10.0.0.1:80', '10.0.0.1:81', '10.0.0.2:80']);
});

test('the default listing, byte for byte', () => {
  const table: TableEntry[] = [
    { service: svc({ flags: 1, persistent: { timeout: 300, netmask: '255.255.0.0' } }), servers: [dest('10.0.1.1', 80)] },
    { service: svc({ fwmark: 7, family: 'inet6', protocol: undefined, address: undefined, port: undefined, scheduler: 'sh', flags: 0x10 }), servers: [] },
    { service: svc({ protocol: 'udp', address: '10.0.0.3', port: 53, flags: 0x4 }), servers: [dest('10.0.2.1', 53, { forward: 'route', weight: 0, activeConns: 3, inactiveConns: 12 })] },
  ];
  const info = { version: '1.2.1', versionCode: 0x010201, connTableSize: 4096 };
  assert.equal(listAll(info, table, FMT.NUMERIC, numeric), [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  10.0.0.1:80 rr persistent 300 mask 255.255.0.0',
    '  -> 10.0.1.1:80                  Masq    1      0          0         ',
    'UDP  10.0.0.3:53 rr ops',
    '  -> 10.0.2.1:53                  Route   0      3          12        ',
    'FWM  7 IPv6 sh (sh-port)',
    '',
  ].join('\n'));
  assert.equal(listAll(info, table, FMT.RULE | FMT.NUMERIC, numeric), [
    '-A -t 10.0.0.1:80 -s rr -p 300 -M 255.255.0.0',
    '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1',
    '-A -u 10.0.0.3:53 -s rr -o',
    '-a -u 10.0.0.3:53 -r 10.0.2.1:53 -g -w 0',
    '-A -f 7 -6 -s sh -b sh-port',
    '',
  ].join('\n'));
});

test('names: service and server names are cut where ipvsadm cuts them', () => {
  const e: TableEntry = { service: svc({}), servers: [dest('10.0.1.1', 8080)] };
  const text = serviceEntry(e, 0, named);
  // /etc/services may not know 8080 here; the host name is cut to 28 characters either way.
  assert.match(text, /^TCP {2}vip\.example:(http|80) rr\n {2}-> a-backend-with-a-really-long Masq {4}1 /);
  const long = addrportToAnyname('inet', '10.0.1.1', 80, 6, 0, { name: () => 'x'.repeat(70) });
  assert.equal(long.length, 59);
  assert.equal(addrportToAnyname('inet6', '2001:db8::1', 443, 6, FMT.NUMERIC, numeric), '[2001:db8::1]:443');
});

test('the stats, rate, thresholds and persistent-conn columns', () => {
  const st: Stats = { conns: 12n, inPackets: 345n, outPackets: 300n, inBytes: 123456789012n, outBytes: 99n, cps: 1n, inPps: 2n, outPps: 3n, inBps: 4n, outBps: 500000000n };
  const e: TableEntry = { service: svc({ stats: st }), servers: [dest('10.0.1.1', 80, { stats: st, upperThreshold: 100, lowerThreshold: 10, persistentConns: 4, weight: 2 })] };
  assert.equal(serviceEntry(e, FMT.NUMERIC | FMT.STATS, numeric),
    'TCP  10.0.0.1:80                        12      345      300     123G       99\n  -> 10.0.1.1:80                        12      345      300     123G       99\n');
  assert.equal(serviceEntry(e, FMT.NUMERIC | FMT.RATE, numeric),
    'TCP  10.0.0.1:80                         1        2        3        4  500000K\n  -> 10.0.1.1:80                         1        2        3        4  500000K\n');
  assert.equal(serviceEntry(e, FMT.NUMERIC | FMT.THRESHOLDS, numeric).split('\n')[1], '  -> 10.0.1.1:80                  100        10         0          0         ');
  assert.equal(serviceEntry(e, FMT.NUMERIC | FMT.PERSISTENTCONN, numeric).split('\n')[1], '  -> 10.0.1.1:80                  2         4           0          0         ');
});

test('/proc/net/ip_vs_conn lines: IPv4 hex, IPv6 text, templates, persistence engine data', () => {
  const c = parseConnLine('TCP 0A600A0A D2F0 0A600A0A 0050 0AF4A102 1F90 TIME_WAIT       108');
  assert.ok(c);
  assert.deepEqual([c.client.address, c.client.port, c.virtual.port, c.destination.address, c.destination.port, c.expires, c.fields], ['10.96.10.10', 54000, 80, '10.244.161.2', 8080, 108, 9]);
  assert.equal(connLine(c, FMT.NUMERIC, numeric), 'TCP 01:48  TIME_WAIT   10.96.10.10:54000  10.96.10.10:80     10.244.161.2:8080\n');
  const v6 = parseConnLine('TCP 2001:0db8:0000:0000:0000:0000:0000:0001 1F90 2001:0db8:0000:0000:0000:0000:0000:0002 0050 0AF4A102 1F90 ESTABLISHED     899')!;
  assert.deepEqual([v6.client.family, v6.client.address, v6.destination.family, v6.destination.address], ['inet6', '2001:db8::1', 'inet', '10.244.161.2']);
  assert.equal(connLine(v6, FMT.NUMERIC, numeric), 'TCP 14:59  ESTABLISHED [2001:db8::1]:8080 [2001:db8::2]:80   10.244.161.2:8080\n');
  const sip = parseConnLine('UDP 0A000001 13C4 0A000002 13C4 0A000003 13C4 UDP             170 sip abc@example')!;
  assert.equal(sip.fields, 11);
  assert.equal(connLine(sip, FMT.NUMERIC | FMT.PERSISTENTCONN, numeric),
    'UDP 02:50  UDP         10.0.0.1:5060      10.0.0.2:5060      10.0.0.3:5060    sip                abc@example\n');
  assert.equal(connLine(sip, FMT.NUMERIC, numeric), 'UDP 02:50  UDP         10.0.0.1:5060      10.0.0.2:5060      10.0.0.3:5060\n');
  const tpl = parseConnLine('IP  0A600A0A 0000 0A600A0B 0050 0AF4A202 1F90 NONE             49')!;
  assert.equal(connLine(tpl, 0, numeric), 'IP  00:49  NONE        10.96.10.10:0      10.96.10.11:80     10.244.162.2:8080\n');
  assert.equal(parseConnTable('Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n').length, 0);
  assert.equal(connHeader(0), 'IPVS connection entries\npro expire state       source             virtual            destination\n');
});

test('/etc/services: first matching line, aliases, comments', () => {
  const s = parseServices('# comment\nhttp\t\t80/tcp\t\twww\t# web\nhttp 80/udp\nfoo 80/tcp\n  bad line\n');
  assert.deepEqual(s.map((e) => [e.name, e.port, e.proto, e.aliases]), [['http', 80, 'tcp', ['www']], ['http', 80, 'udp', []], ['foo', 80, 'tcp', []]]);
});

test('json and wide: every field, in ipvsadm\'s order', () => {
  const table: TableEntry[] = [
    { service: svc({ address: '10.0.0.2' }), servers: [dest('10.0.1.2', 80), dest('10.0.1.1', 80, { forward: 'tunnel', tunnel: { type: 'gre', port: 0, checksum: 'csum' } })] },
    { service: svc({}), servers: [] },
  ];
  const doc = JSON.parse(servicesJson({ version: '1.2.1', versionCode: 0x10201, connTableSize: 4096 }, table, FMT.NUMERIC, numeric));
  assert.equal(doc.schema, 'kipvs.ipvsadm/v1');
  assert.deepEqual(doc.ipvs, { version: '1.2.1', connTableSize: 4096 });
  assert.deepEqual(doc.services.map((s: { address: string }) => s.address), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(doc.services[1].servers.map((d: { address: string }) => d.address), ['10.0.1.1', '10.0.1.2']);
  assert.deepEqual(doc.services[1].servers[0].tunnel, { type: 'gre', port: 0, checksum: 'csum' });
  assert.equal(doc.services[0].stats.conns, 0);
  const wide = servicesWide(table, FMT.NUMERIC, numeric).split('\n');
  assert.equal(wide.length, 1 + 2 + 2 + 1);
  assert.match(wide[3]!, /^TCP\s+10\.0\.0\.2:80\s+rr\s+-\s+-\s+10\.0\.1\.1:80\s+tunnel\s+gre:csum\s+1\s/);
});

test('timeouts and daemons', () => {
  assert.equal(timeoutLine({ tcp: 900, tcpFin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.equal(daemonLines([{ state: 'master', mcastInterface: 'eth0', syncId: 7, syncMaxLen: 1472, mcastGroup: '224.0.0.81', mcastPort: 8848, mcastTtl: 1 }]),
    'master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
});
