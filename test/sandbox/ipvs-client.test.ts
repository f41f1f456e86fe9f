// The IPVS client against the real kernel, with Debian's ipvsadm as the oracle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IpvsClient } from '../../src/ipvs/client.js';
import { Pacer } from '../../src/loop/pacer.js';
import { IpvsValidationError } from '../../src/ipvs/validate.js';
import { KernelError } from '../../src/netlink/connection.js';
import { LinkClient } from '../../src/link/link.js';
import type { VirtualService, RealServer, Operation, ServiceKey, RealServerEntry, ServiceEntry, Stats } from '../../src/ipvs/types.js';
import { sh, shStatus, startBackend, httpGet, resetKernel, waitFor, type Backend } from './helpers.js';

interface Case {
  service: VirtualService;
  servers: RealServer[];
  /** The same state as ipvsadm -R input, written by hand. */
  rules: string[];
}

const tcp = (address: string, port: number) => ({ family: 'inet' as const, protocol: 'tcp' as const, address, port });

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf'];
// twos (random two choices) came with Linux 6.2: its test says so when this kernel lacks it.
const hasTwos = shStatus('modprobe ip_vs_twos').status === 0;
const NO_TWOS = `this kernel (${sh('uname -r').trim()}) has no ip_vs_twos: the twos scheduler came with Linux 6.2`;

/** Statistics of an object no packet has reached. */
const ZERO_STATS: Stats = { conns: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n };

const CASES: Case[] = [
  // every scheduler, each with a masq, a route and a tunnel server, weights and thresholds
  ...SCHEDULERS.map((s, i): Case => ({
    service: { ...tcp(`10.10.0.${i + 1}`, 80), scheduler: s },
    servers: [
      { address: `10.20.${i}.1`, port: 8080, weight: 1 },
      // ipvsadm gives direct-routing and tunnel servers the service's port; so do we, to compare.
      { address: `10.20.${i}.2`, port: 80, forward: 'route', weight: 5, upperThreshold: 100, lowerThreshold: 10 },
      { address: `10.20.${i}.3`, port: 80, forward: 'tunnel', weight: 0 },
    ],
    rules: [
      `-A -t 10.10.0.${i + 1}:80 -s ${s}`,
      `-a -t 10.10.0.${i + 1}:80 -r 10.20.${i}.1:8080 -m -w 1`,
      `-a -t 10.10.0.${i + 1}:80 -r 10.20.${i}.2:8080 -g -w 5 -x 100 -y 10`,
      `-a -t 10.10.0.${i + 1}:80 -r 10.20.${i}.3 -i -w 0`,
    ],
  })),
  {
    service: { ...tcp('10.11.0.1', 443), scheduler: 'wlc', persistent: { timeout: 300, netmask: '255.255.255.0' } },
    servers: [{ address: '10.21.0.1', port: 443, weight: 2 }],
    rules: ['-A -t 10.11.0.1:443 -s wlc -p 300 -M 255.255.255.0', '-a -t 10.11.0.1:443 -r 10.21.0.1:443 -m -w 2'],
  },
  {
    service: { ...tcp('10.11.0.2', 0), scheduler: 'rr', persistent: { timeout: 10800 } },
    servers: [{ address: '10.21.0.2', port: 0, forward: 'route' }],
    rules: ['-A -t 10.11.0.2:0 -s rr -p 10800', '-a -t 10.11.0.2:0 -r 10.21.0.2:0 -g -w 1'],
  },
  {
    service: { family: 'inet', protocol: 'udp', address: '10.11.0.3', port: 53, scheduler: 'rr', onePacket: true },
    servers: [{ address: '10.21.0.3', port: 5353, weight: 7 }],
    rules: ['-A -u 10.11.0.3:53 -s rr -o', '-a -u 10.11.0.3:53 -r 10.21.0.3:5353 -m -w 7'],
  },
  {
    service: { family: 'inet', protocol: 'sctp', address: '10.11.0.4', port: 3868, scheduler: 'sh', schedulerFlags: { shFallback: true, shPort: true } },
    servers: [{ address: '10.21.0.4', port: 3868 }],
    rules: ['--add-service --sctp-service 10.11.0.4:3868 -s sh -b sh-fallback,sh-port', '-a --sctp-service 10.11.0.4:3868 -r 10.21.0.4:3868 -m -w 1'],
  },
  {
    service: { ...tcp('10.11.0.5', 80), scheduler: 'sh', schedulerFlags: { shPort: true } },
    servers: [],
    rules: ['-A -t 10.11.0.5:80 -s sh -b sh-port'],
  },
  {
    service: { ...tcp('10.11.0.6', 80), scheduler: 'mh', schedulerFlags: { mhPort: true } },
    servers: [{ address: '10.21.0.6', port: 80 }],
    rules: ['-A -t 10.11.0.6:80 -s mh -b mh-port', '-a -t 10.11.0.6:80 -r 10.21.0.6:80 -m -w 1'],
  },
  {
    service: { family: 'inet', protocol: 'udp', address: '10.11.0.7', port: 80, scheduler: 'mh', schedulerFlags: { mhFallback: true, mhPort: true }, onePacket: true, persistent: { timeout: 60, netmask: '255.255.0.0' } },
    servers: [{ address: '10.21.0.7', port: 80 }],
    rules: ['-A -u 10.11.0.7:80 -s mh -b mh-fallback,mh-port -o -p 60 -M 255.255.0.0', '-a -u 10.11.0.7:80 -r 10.21.0.7:80 -m -w 1'],
  },
  {
    service: { family: 'inet', fwmark: 42, scheduler: 'wrr' },
    servers: [{ address: '10.21.1.1', port: 0, weight: 3 }, { address: '10.21.1.2', port: 80, forward: 'route' }],
    rules: ['-A -f 42 -s wrr', '-a -f 42 -r 10.21.1.1:0 -m -w 3', '-a -f 42 -r 10.21.1.2:80 -g -w 1'],
  },
  {
    service: { family: 'inet', fwmark: 43, scheduler: 'rr', persistent: { timeout: 120, netmask: '255.255.255.128' } },
    servers: [{ address: '10.21.1.3', port: 0 }],
    rules: ['-A -f 43 -s rr -p 120 -M 255.255.255.128', '-a -f 43 -r 10.21.1.3:0 -m -w 1'],
  },
  {
    service: { family: 'inet6', fwmark: 44, scheduler: 'lc' },
    servers: [{ address: 'fd00:21::1', port: 0 }],
    rules: ['-A -f 44 -6 -s lc', '-a -f 44 -6 -r [fd00:21::1]:0 -m -w 1'],
  },
  {
    service: { family: 'inet6', protocol: 'tcp', address: 'fd00:11::1', port: 80, scheduler: 'rr', persistent: { timeout: 300, netmask: '64' } },
    servers: [
      { address: 'fd00:21::2', port: 8080 },
      { address: 'fd00:21::3', port: 80, forward: 'route', weight: 4, upperThreshold: 50, lowerThreshold: 5 },
    ],
    rules: ['-A -t [fd00:11::1]:80 -s rr -p 300 -M 64', '-a -t [fd00:11::1]:80 -r [fd00:21::2]:8080 -m -w 1', '-a -t [fd00:11::1]:80 -r [fd00:21::3]:8080 -g -w 4 -x 50 -y 5'],
  },
  {
    service: { family: 'inet6', protocol: 'udp', address: 'fd00:11::2', port: 53, scheduler: 'sh', schedulerFlags: { shFallback: true } },
    servers: [{ address: 'fd00:21::4', port: 53 }],
    rules: ['-A -u [fd00:11::2]:53 -s sh -b sh-fallback', '-a -u [fd00:11::2]:53 -r [fd00:21::4]:53 -m -w 1'],
  },
  {
    // tunnels: every type and checksum option, and an IPv6 real server behind an IPv4 service
    service: { ...tcp('10.11.0.8', 80), scheduler: 'rr' },
    servers: [
      { address: '10.21.2.1', port: 80, forward: 'tunnel', tunnel: { type: 'ipip' } },
      { address: '10.21.2.2', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'none' } },
      { address: '10.21.2.3', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'csum' } },
      { address: '10.21.2.4', port: 80, forward: 'tunnel', tunnel: { type: 'gue', port: 6082, checksum: 'remcsum' } },
      { address: '10.21.2.5', port: 80, forward: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
      { address: 'fd00:21::5', port: 80, forward: 'tunnel', family: 'inet6' },
    ],
    rules: [
      '-A -t 10.11.0.8:80 -s rr',
      '-a -t 10.11.0.8:80 -r 10.21.2.1:80 -i -w 1 --tun-type ipip',
      '-a -t 10.11.0.8:80 -r 10.21.2.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum',
      '-a -t 10.11.0.8:80 -r 10.21.2.3:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-csum',
      '-a -t 10.11.0.8:80 -r 10.21.2.4:80 -i -w 1 --tun-type gue --tun-port 6082 --tun-remcsum',
      '-a -t 10.11.0.8:80 -r 10.21.2.5:80 -i -w 1 --tun-type gre --tun-csum',
      '-a -t 10.11.0.8:80 -r [fd00:21::5]:80 -i -w 1',
    ],
  },
];

function kipvsOps(cases: Case[]): Operation[] {
  return cases.flatMap((c) => [
    { op: 'add-service' as const, service: c.service },
    ...c.servers.map((server) => ({ op: 'add-server' as const, service: c.service as ServiceKey, server })),
  ]);
}

/** Every view of the table ipvsadm has, for comparing two kernel states. */
function ipvsadmViews(): string {
  return ['-Sn', '-Ln', '-Ln --thresholds', '-Ln --persistent-conn', '-Ln --stats --exact'].map((o) => `## ipvsadm ${o}\n${sh(`ipvsadm ${o}`)}`).join('\n');
}

let client: IpvsClient;
before(() => {
  resetKernel();
  client = IpvsClient.open();
});
after(() => {
  client.close();
  resetKernel();
});

test('a state written by kipvs is what ipvsadm -R writes for the same rules (every scheduler, flag, method, IPv6, fwmark)', () => {
  const r = client.apply(kipvsOps(CASES));
  assert.deepEqual(r.failures.map((f) => f.error.message), []);
  assert.equal(r.applied, CASES.length + CASES.reduce((n, c) => n + c.servers.length, 0));
  const byKipvs = ipvsadmViews();
  sh('ipvsadm -C');
  sh('ipvsadm -R', CASES.flatMap((c) => c.rules).join('\n') + '\n');
  const byIpvsadm = ipvsadmViews();
  assert.equal(byKipvs, byIpvsadm);
  assert.ok(byKipvs.split('\n').length > 60, 'the comparison covered the table');
});

function sortServers(list: RealServerEntry[]): RealServerEntry[] {
  return [...list].sort((a, b) => `${a.address}:${a.port}`.localeCompare(`${b.address}:${b.port}`));
}

test('a state written by ipvsadm is read back by kipvs field for field', () => {
  sh('ipvsadm -C');
  sh('ipvsadm -R', CASES.flatMap((c) => c.rules).join('\n') + '\n');
  const table = client.dump();
  assert.equal(table.length, CASES.length);
  for (const c of CASES) {
    const key = c.service;
    const found = table.find(({ service: s }) => (key.fwmark !== undefined
      ? s.fwmark === key.fwmark && s.family === key.family
      : s.protocol === key.protocol && s.address === key.address && s.port === key.port));
    assert.ok(found, `service ${JSON.stringify(key)} read back`);
    const s: ServiceEntry = found.service;
    assert.equal(s.family, key.family);
    assert.equal(s.scheduler, c.service.scheduler);
    assert.deepEqual(s.persistent, c.service.persistent
      ? { timeout: c.service.persistent.timeout, netmask: c.service.persistent.netmask ?? (key.family === 'inet' ? '255.255.255.255' : '128') }
      : undefined);
    assert.equal(s.onePacket, c.service.onePacket ?? false);
    assert.deepEqual(s.schedulerFlags, c.service.schedulerFlags ?? {});
    // Restored a moment ago and never reached by a packet: every counter and rate is zero.
    assert.deepEqual(s.stats, ZERO_STATS, `stats of ${JSON.stringify(key)}`);
    const want = sortServers(c.servers.map((rs) => ({
      address: rs.address, port: rs.port, family: rs.family ?? key.family, forward: rs.forward ?? 'masq', weight: rs.weight ?? 1,
      upperThreshold: rs.upperThreshold ?? 0, lowerThreshold: rs.lowerThreshold ?? 0,
      activeConns: 0, inactiveConns: 0, persistentConns: 0,
      tunnel: rs.forward === 'tunnel' ? { type: rs.tunnel?.type ?? 'ipip', port: rs.tunnel?.port ?? 0, checksum: rs.tunnel?.checksum ?? 'none' } : undefined,
      stats: ZERO_STATS,
    })));
    assert.deepEqual(sortServers(found.servers), want, `servers of ${JSON.stringify(key)}`);
  }
});

test('get one service; update a service and a server; delete them', () => {
  sh('ipvsadm -C');
  const key = tcp('10.30.0.1', 80);
  client.addService({ ...key, scheduler: 'rr' });
  client.addServer(key, { address: '10.31.0.1', port: 80, weight: 1 });
  assert.equal(client.getService(key)?.scheduler, 'rr');
  assert.equal(client.getService(tcp('10.30.0.2', 80)), null);
  client.updateService({ ...key, scheduler: 'wrr', persistent: { timeout: 60 } });
  client.updateServer(key, { address: '10.31.0.1', port: 80, weight: 9, forward: 'route' });
  assert.match(sh('ipvsadm -Sn'), /-A -t 10\.30\.0\.1:80 -s wrr -p 60\n-a -t 10\.30\.0\.1:80 -r 10\.31\.0\.1:80 -g -w 9\n/);
  client.deleteServer(key, { address: '10.31.0.1', port: 80 });
  assert.deepEqual(client.servers(key), []);
  client.deleteService(key);
  assert.equal(sh('ipvsadm -Sn'), '');
});

test('a service deleted between the service dump and its real-server dump: listed with no servers, or left out with skipGone', () => {
  sh('ipvsadm -C');
  for (let i = 1; i <= 3; i++) {
    sh(`ipvsadm -A -t 10.32.0.${i}:80 -s rr && ipvsadm -a -t 10.32.0.${i}:80 -r 10.33.0.${i}:80 -m`);
  }
  const listed = (skipGone: boolean) => {
    const out: string[] = [];
    const steps = client.forEachEntrySteps({ stats: false, skipGone }, (s, servers) => out.push(`${s.address} ${servers.map((r) => r.address).join(',')}`));
    assert.equal(steps.next().value, 0, 'the service dump comes first');
    // Gone after the service dump, before the real-server dumps.
    sh('ipvsadm -D -t 10.32.0.2:80');
    while (!steps.next().done);
    sh('ipvsadm -A -t 10.32.0.2:80 -s rr && ipvsadm -a -t 10.32.0.2:80 -r 10.33.0.2:80 -m');
    return out.sort();
  };
  assert.deepEqual(listed(false), ['10.32.0.1 10.33.0.1', '10.32.0.2 ', '10.32.0.3 10.33.0.3']);
  assert.deepEqual(listed(true), ['10.32.0.1 10.33.0.1', '10.32.0.3 10.33.0.3']);
  sh('ipvsadm -C');
});

test('a full read decodes its service dump in pieces of the size asked, after reading the dump whole', () => {
  sh('ipvsadm -C');
  const n = 300;
  const rules: string[] = [];
  for (let i = 0; i < n; i++) rules.push(`-A -t 10.36.${i >> 8}.${i & 255}:80 -s rr`, `-a -t 10.36.${i >> 8}.${i & 255}:80 -r 10.37.0.1:8080 -m -w 1`);
  sh('ipvsadm -R', rules.join('\n') + '\n');
  const keys: string[] = [];
  const read: string[] = [];
  const steps = client.forEachEntrySteps({ stats: false, skipGone: true }, (s, servers) => read.push(`${s.address} ${servers.length}`), () => undefined, (key) => {
    keys.push(key);
    return undefined;
  });
  assert.equal(steps.next().value, 0, 'the dump, read whole, comes first');
  assert.equal(keys.length, 0, 'no service decoded yet');
  // Added after the dump: the kept bytes are what the kernel listed then.
  sh('ipvsadm -A -t 10.38.0.1:80 -s rr');
  const pieces: number[] = [];
  for (let r = steps.next(16); r.value !== 0; r = steps.next(16)) {
    assert.equal(r.done, false);
    pieces.push(r.value as number);
    assert.equal(keys.length, pieces.reduce((a, b) => a + b, 0), 'each piece decodes as many services as it says');
  }
  // n services in pieces of 16: the last piece (n mod 16) goes with the step that starts the real servers.
  assert.equal(pieces.length, Math.floor((n - 1) / 16));
  assert.ok(pieces.every((p) => p === 16), pieces.join(','));
  assert.equal(keys.length, n, 'then every service is decoded');
  while (!steps.next().done);
  const oracle = sh('ipvsadm -Ln').split('\n').filter((l) => l.startsWith('TCP')).map((l) => l.split(/\s+/)[1]!.replace(/:80$/, ''));
  assert.equal(oracle.length, n + 1);
  assert.deepEqual(read.map((l) => l.split(' ')[0]).sort(), oracle.filter((a) => a !== '10.38.0.1').sort());
  assert.ok(read.every((l) => l.endsWith(' 1')), 'each with its real server');
  sh('ipvsadm -C');
});

test('a dump with a guess hands on the guessed objects the kernel shows unchanged, and decodes what ipvsadm changed', () => {
  sh('ipvsadm -C');
  // Written by ipvsadm, one at a time: the kernel lists a service's newest real server first.
  sh('ipvsadm -A -t 10.34.0.1:80 -s rr');
  for (let i = 1; i <= 4; i++) sh(`ipvsadm -a -t 10.34.0.1:80 -r 10.35.0.${i}:8080 -m -w 1`);
  sh('ipvsadm -A -u 10.34.0.2:53 -s rr && ipvsadm -a -u 10.34.0.2:53 -r 10.35.1.1:53 -m -w 2 -x 10 -y 5');
  const held = new Map<string, RealServer[]>([
    ['10.34.0.1', [4, 3, 2, 1].map((i) => ({ address: `10.35.0.${i}`, port: 8080, weight: 1 }))],
    ['10.34.0.2', [{ address: '10.35.1.1', port: 53, forward: 'masq', weight: 2, upperThreshold: 10, lowerThreshold: 5 }]],
  ]);
  const read = () => {
    const out = new Map<string, (RealServer | RealServerEntry)[]>();
    const steps = client.forEachEntrySteps({ stats: false, skipGone: true }, (s, servers) => out.set(s.address ?? '', servers), (s) => held.get(s.address ?? ''));
    while (!steps.next().done);
    return out;
  };
  let got = read();
  for (const [vip, guess] of held) {
    assert.equal(got.get(vip)!.length, guess.length, vip);
    got.get(vip)!.forEach((s, i) => assert.equal(s, guess[i], `${vip}: entry ${i} is the guessed object`));
  }
  // Changed behind the reader's back: one weight, one server gone, one added, one threshold.
  sh('ipvsadm -e -t 10.34.0.1:80 -r 10.35.0.2:8080 -m -w 7');
  sh('ipvsadm -d -t 10.34.0.1:80 -r 10.35.0.3:8080');
  sh('ipvsadm -a -t 10.34.0.1:80 -r 10.35.0.9:8080 -m -w 1');
  sh('ipvsadm -e -u 10.34.0.2:53 -r 10.35.1.1:53 -m -w 2 -x 11 -y 5');
  got = read();
  const text = (s: RealServer | RealServerEntry) => `${s.address}:${s.port} w${s.weight} u${s.upperThreshold ?? 0}`;
  // What ipvsadm lists, in its order, is what the reader got.
  const oracle = sh('ipvsadm -Ln').split('\n').filter((l) => l.includes('->') && !l.includes('RemoteAddress')).map((l) => l.trim().split(/\s+/)[1]!);
  assert.deepEqual([...got.get('10.34.0.1')!, ...got.get('10.34.0.2')!].map((s) => `${s.address}:${s.port}`).sort(), [...oracle].sort());
  assert.deepEqual(got.get('10.34.0.1')!.map(text), ['10.35.0.9:8080 w1 u0', '10.35.0.4:8080 w1 u0', '10.35.0.2:8080 w7 u0', '10.35.0.1:8080 w1 u0']);
  const guess1 = held.get('10.34.0.1')!;
  // What changed is decoded (the new server, the new weight); the next guessed server, unchanged, is
  // the guessed object (whether a later one is depends on how far the guess got: not asserted).
  assert.deepEqual(got.get('10.34.0.1')!.slice(0, 3).map((s) => guess1.includes(s as RealServer)), [false, true, false]);
  assert.equal(text(got.get('10.34.0.2')![0]!), '10.35.1.1:53 w2 u11');
  assert.notEqual(got.get('10.34.0.2')![0], held.get('10.34.0.2')![0]);
  sh('ipvsadm -C');
});

test('kernel refusals are typed errors naming the object', () => {
  sh('ipvsadm -C');
  const key = tcp('10.30.0.1', 80);
  client.addService({ ...key, scheduler: 'rr' });
  assert.throws(() => client.addService({ ...key, scheduler: 'rr' }),
    (e: unknown) => e instanceof KernelError && e.code === 'EEXIST' && /10\.30\.0\.1:80/.test(e.message));
  assert.throws(() => client.deleteService(tcp('10.30.0.9', 80)),
    (e: unknown) => e instanceof KernelError && e.code === 'ESRCH' && /TCP 10\.30\.0\.9:80/.test(e.message));
  assert.throws(() => client.deleteServer(key, { address: '10.31.0.9', port: 80 }),
    (e: unknown) => e instanceof KernelError && e.code === 'ENOENT' && /10\.31\.0\.9:80 of TCP 10\.30\.0\.1:80/.test(e.message));
  assert.throws(() => client.addServer(tcp('10.30.0.9', 80), { address: '10.31.0.1', port: 80 }),
    (e: unknown) => e instanceof KernelError && e.code === 'ESRCH');
  client.flush();
});

test('bad input is refused before anything is sent, naming the field', () => {
  sh('ipvsadm -C');
  const bad: [() => void, string][] = [
    [() => client.addService({ ...tcp('10.0.0.300', 80), scheduler: 'rr' }), 'address'],
    [() => client.addService({ ...tcp('fd00::1', 80), scheduler: 'rr' }), 'address'],
    [() => client.addService({ ...tcp('10.0.0.1', 70000), scheduler: 'rr' }), 'port'],
    [() => client.addService({ ...tcp('10.0.0.1', 0), scheduler: 'rr' }), 'port'],
    [() => client.addService({ family: 'inet', protocol: 'icmp' as never, address: '10.0.0.1', port: 1, scheduler: 'rr' }), 'protocol'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'fastest' }), 'scheduler'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'rr', onePacket: true }), 'onePacket'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'rr', schedulerFlags: { shPort: true } }), 'schedulerFlags'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'sh', schedulerFlags: { mhPort: true } }), 'schedulerFlags'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'rr', persistent: { timeout: 0 } }), 'persistent.timeout'],
    [() => client.addService({ ...tcp('10.0.0.1', 80), scheduler: 'rr', persistent: { timeout: 5, netmask: '255.0.255.0' } }), 'persistent.netmask'],
    [() => client.addService({ family: 'inet', fwmark: 0, scheduler: 'rr' }), 'fwmark'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: 'fd00::1', port: 80 }), 'family'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: '10.0.0.2', port: 80, weight: -1 }), 'weight'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: '10.0.0.2', port: 80, upperThreshold: 5, lowerThreshold: 9 }), 'lowerThreshold'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: '10.0.0.2', port: 80, forward: 'teleport' as never }), 'forward'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: '10.0.0.2', port: 80, tunnel: { type: 'gue', port: 1 } }), 'tunnel'],
    [() => client.addServer(tcp('10.0.0.1', 80), { address: '10.0.0.2', port: 80, forward: 'tunnel', tunnel: { type: 'gue' } }), 'tunnel.port'],
  ];
  for (const [call, field] of bad) {
    assert.throws(call, (e: unknown) => e instanceof IpvsValidationError && e.field === field, `expected an error on ${field}`);
  }
  assert.equal(sh('ipvsadm -Sn'), '', 'nothing reached the kernel');
});

test('a failing item in a batch names itself and the others are applied', () => {
  sh('ipvsadm -C');
  const svc = tcp('10.40.0.1', 80);
  const ops: Operation[] = [
    { op: 'add-service', service: { ...svc, scheduler: 'rr' } },
    { op: 'add-server', service: svc, server: { address: '10.41.0.1', port: 80 } },
    { op: 'add-server', service: svc, server: { address: '10.41.0.1', port: 80 } }, // EEXIST
    { op: 'add-server', service: tcp('10.40.0.99', 80), server: { address: '10.41.0.2', port: 80 } }, // ESRCH
    { op: 'add-server', service: svc, server: { address: 'not-an-ip', port: 80 } }, // invalid
    { op: 'add-server', service: svc, server: { address: '10.41.0.3', port: 80 } },
    { op: 'delete-service', service: tcp('10.40.0.98', 80) }, // ESRCH
  ];
  const r = client.apply(ops);
  assert.equal(r.applied, 3);
  assert.deepEqual(r.failures.map((f) => [f.index, f.error instanceof KernelError ? f.error.code : (f.error as IpvsValidationError).field]),
    [[2, 'EEXIST'], [3, 'ESRCH'], [4, 'address'], [6, 'ESRCH']]);
  assert.match(r.failures[0]!.error.message, /add real server 10\.41\.0\.1:80 of TCP 10\.40\.0\.1:80: already exists \(EEXIST\)/);
  assert.match(r.failures[3]!.error.message, /delete virtual service TCP 10\.40\.0\.98:80/);
  assert.equal(sh('ipvsadm -Sn'), '-A -t 10.40.0.1:80 -s rr\n-a -t 10.40.0.1:80 -r 10.41.0.1:80 -m -w 1\n-a -t 10.40.0.1:80 -r 10.41.0.3:80 -m -w 1\n');
});

test('applied apart (each piece on the thread pool, paced): the same failures at the same indexes, and the same table, as applied blocking', async () => {
  // Pieces of at most 16 operations (the Pacer's smallest) and failures in several of them.
  const ops: Operation[] = [];
  for (let i = 0; i < 40; i++) {
    const service = tcp(`10.52.0.${i + 1}`, 80);
    ops.push({ op: 'add-service', service: { ...service, scheduler: 'rr' } });
    for (let j = 1; j <= 4; j++) ops.push({ op: 'add-server', service, server: { address: `10.53.0.${i + 1}`, port: 8000 + j } });
    if (i % 7 === 3) ops.push({ op: 'add-server', service, server: { address: `10.53.0.${i + 1}`, port: 8001 } }); // EEXIST
    if (i % 11 === 5) ops.push({ op: 'add-server', service, server: { address: 'bad', port: 1 } }); // invalid
  }
  const outcome = (r: ReturnType<IpvsClient['apply']>) => ({ applied: r.applied, failures: r.failures.map((f) => [f.index, f.error instanceof KernelError ? f.error.code : (f.error as IpvsValidationError).field]) });
  sh('ipvsadm -C');
  const blocking = outcome(client.apply(ops));
  const tableBlocking = sh('ipvsadm -Sn');
  sh('ipvsadm -C');
  const pacer = new Pacer({ sliceMs: 0, minItems: 16, maxItems: 16 });
  const apart = outcome(await pacer.run(client.applySteps(ops, true)));
  assert.deepEqual(apart, blocking);
  assert.ok(blocking.failures.length >= 6, `failures in several pieces: ${blocking.failures.length}`);
  assert.equal(sh('ipvsadm -Sn'), tableBlocking);
  assert.equal(Number(sh('ipvsadm -Sn | wc -l')), 40 * 5);
  sh('ipvsadm -C');
});

test('a batch larger than the socket window is applied whole (3,000 operations)', () => {
  sh('ipvsadm -C');
  const ops: Operation[] = [];
  for (let i = 0; i < 300; i++) {
    const service = tcp(`10.50.${i >> 8}.${i & 255}`, 80);
    ops.push({ op: 'add-service', service: { ...service, scheduler: 'rr' } });
    for (let j = 1; j <= 9; j++) ops.push({ op: 'add-server', service, server: { address: `10.51.${i >> 8}.${i & 255}`, port: 8000 + j } });
  }
  const r = client.apply(ops);
  assert.equal(r.failures.length, 0);
  assert.equal(r.applied, 3000);
  assert.equal(Number(sh('ipvsadm -Sn | wc -l')), 3000);
  const table = client.dump();
  assert.equal(table.length, 300);
  assert.equal(table.reduce((n, t) => n + t.servers.length, 0), 2700);
  // Without statistics: the same table, minus the counters.
  const strip = <T extends { stats?: unknown }>(x: T) => { const { stats: _s, ...rest } = x; return rest; };
  const lean = client.dump({ stats: false });
  assert.ok(lean.every((t) => !('stats' in t.service) && t.servers.every((s) => !('stats' in s))));
  assert.deepEqual(lean, table.map((t) => ({ service: strip(t.service), servers: t.servers.map(strip) })));
  client.flush();
  assert.equal(client.services().length, 0);
});

test('info, timeouts get/set and zero', () => {
  const info = client.info();
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.match(sh('ipvsadm -Ln | head -1'), new RegExp(`version ${info.version.replace(/\./g, '\\.')} \\(size=${info.connTableSize}\\)`));
  const before = client.timeouts();
  client.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 });
  assert.deepEqual(client.timeouts(), { tcp: 901, tcpFin: 121, udp: 301 });
  assert.equal(sh('ipvsadm -L --timeout').trim(), 'Timeout (tcp tcpfin udp): 901 121 301');
  client.setTimeouts({ tcp: 0, udp: 0, tcpFin: 0 }); // 0 keeps the current value
  assert.deepEqual(client.timeouts(), { tcp: 901, tcpFin: 121, udp: 301 });
  client.setTimeouts(before);
  assert.throws(() => client.setTimeouts({ tcp: -5 }), IpvsValidationError);
});

test('statistics, rates and connection counts move when real traffic flows through a VIP', async () => {
  sh('ipvsadm -C');
  const backends: Backend[] = [startBackend('kb1', 101), startBackend('kb2', 102)];
  const link = LinkClient.open();
  try {
    const dummy = link.ensureDummy('kube-ipvs0');
    assert.deepEqual(link.addAddresses(dummy.index, ['10.96.0.10']), []);
    const vip = tcp('10.96.0.10', 80);
    client.addService({ ...vip, scheduler: 'rr' });
    for (const b of backends) client.addServer(vip, { address: b.address, port: b.port });
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await httpGet('10.96.0.10', 80)).trim());
    assert.deepEqual([...seen].sort(), ['kb1', 'kb2'], 'round robin reached both backends');
    // The kernel folds its per-CPU counters into the totals every 2 s (the rate estimator's tick).
    waitFor(() => client.getService(vip)!.stats.conns === 20n, 8000, 'counters to reach 20 connections');
    const svc = client.getService(vip)!;
    assert.ok(svc.stats.inPackets >= 20n * 3n, `in packets ${svc.stats.inPackets}`);
    assert.ok(svc.stats.outBytes > 20n * 100n, `out bytes ${svc.stats.outBytes}`);
    const servers = client.servers(vip);
    assert.deepEqual(servers.map((s) => s.stats.conns), [10n, 10n]);
    // Closed connections linger in TIME_WAIT: they count as inactive.
    assert.ok(servers.every((s) => s.inactiveConns + s.activeConns > 0));
    // The kernel's own view agrees.
    const stats = sh('ipvsadm -Ln --stats --exact -t 10.96.0.10:80');
    assert.match(stats, new RegExp(`TCP  10\\.96\\.0\\.10:80\\s+20\\s+${svc.stats.inPackets}\\s+${svc.stats.outPackets}\\s+${svc.stats.inBytes}\\s+${svc.stats.outBytes}`));
    // Rates are estimated every 2 s and decay over several ticks: just after the tick that counted the
    // 20 connections, each rate is non-zero, and ipvsadm's --rate view shows the same five numbers.
    // (Read kipvs, ipvsadm, kipvs again: when the two kipvs reads agree, no tick fell between.)
    const rates = (s: Stats) => [s.cps, s.inPps, s.outPps, s.inBps, s.outBps];
    let agreed = false;
    for (let i = 0; i < 5 && !agreed; i++) {
      const first = rates(client.getService(vip)!.stats);
      const view = sh('ipvsadm -Ln --rate --exact -t 10.96.0.10:80');
      const second = rates(client.getService(vip)!.stats);
      if (first.join() !== second.join()) continue;
      agreed = true;
      for (const [name, v] of ['cps', 'inPps', 'outPps', 'inBps', 'outBps'].map((n, j) => [n, first[j]!] as const)) assert.ok(v > 0n, `${name} is ${v} just after traffic`);
      assert.match(view, new RegExp(`TCP  10\\.96\\.0\\.10:80\\s+${first.join('\\s+')}\\n`), `ipvsadm --rate shows ${first.join(' ')}`);
    }
    assert.ok(agreed, 'two reads of the rates within one estimator tick');
    client.zero(vip);
    assert.equal(client.getService(vip)!.stats.conns, 0n);
  } finally {
    for (const b of backends) b.stop();
    link.close();
    resetKernel();
  }
});

test('the twos scheduler (Linux 6.2 and later) is written as ipvsadm writes it', { skip: hasTwos ? false : NO_TWOS }, () => {
  sh('ipvsadm -C');
  const key = tcp('10.12.0.1', 80);
  client.addService({ ...key, scheduler: 'twos' });
  client.addServer(key, { address: '10.22.0.1', port: 80, weight: 2 });
  const byKipvs = sh('ipvsadm -Sn');
  sh('ipvsadm -C && ipvsadm -A -t 10.12.0.1:80 -s twos && ipvsadm -a -t 10.12.0.1:80 -r 10.22.0.1:80 -m -w 2');
  assert.equal(byKipvs, sh('ipvsadm -Sn'));
  assert.equal(client.getService(key)?.scheduler, 'twos');
  sh('ipvsadm -C');
});

