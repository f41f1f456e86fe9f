// The IPVS codec against the byte layout of linux/ip_vs.h and linux/netlink.h, written out here by
// hand with the header's numbers (not the codec's constants): requests as the kernel parses them,
// replies as ip_vs_genl_fill_service / ip_vs_genl_fill_dest build them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter, parseAttrs } from '../../src/netlink/message.js';
import fc from 'fast-check';
import { beginIpvs, putService, putServer, putPlainServer, putTimeouts, decodeService, decodeServer, decodeInfo, decodeTimeouts, destMatches, serviceKeyOfNest, serviceMatches } from '../../src/ipvs/codec.js';
import { serviceKeyString } from '../../src/ipvs/keys.js';
import { sameServiceInfo } from '../../src/backends/ipvs/kernel-model.js';
import type { Stats, RealServer } from '../../src/ipvs/types.js';
import { isPlainValidServer, validateServerOf, validateService, serviceInfoOf } from '../../src/ipvs/validate.js';
import { nla } from './helpers.js';

const NESTED = 0x8000; // NLA_F_NESTED
const nest = (type: number, ...attrs: Buffer[]) => nla(type | NESTED, Buffer.concat(attrs));
const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };
const str = (s: string) => Buffer.from(`${s}\0`);
/** union nf_inet_addr: 16 bytes, an IPv4 address in the first four. */
const inet = (...bytes: number[]) => Buffer.concat([Buffer.from(bytes), Buffer.alloc(16 - bytes.length)]);

/** nlmsghdr (len, type, flags, seq, pid) + genlmsghdr (cmd, version 1, reserved). */
function genlMessage(family: number, flags: number, seq: number, cmd: number, attrs: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20 + attrs.length, 0);
  h.writeUInt16LE(family, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(0, 12);
  h.writeUInt8(cmd, 16);
  h.writeUInt8(1, 17); // IPVS_GENL_VERSION
  return Buffer.concat([h, attrs]);
}

// enum IPVS_CMD_*, IPVS_CMD_ATTR_*, IPVS_SVC_ATTR_*, IPVS_DEST_ATTR_*, IPVS_STATS_ATTR_* (ip_vs.h).
const CMD_NEW_SERVICE = 1, CMD_NEW_DEST = 5, CMD_SET_CONFIG = 12;
const ATTR_SERVICE = 1, ATTR_DEST = 2, ATTR_TIMEOUT_TCP = 4, ATTR_TIMEOUT_TCP_FIN = 5, ATTR_TIMEOUT_UDP = 6;
const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9, STATS: 10, PE_NAME: 11, STATS64: 12 };
const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, PERSIST_CONNS: 9, STATS: 10, ADDR_FAMILY: 11, STATS64: 12, TUN_TYPE: 13, TUN_PORT: 14, TUN_FLAGS: 15 };
const NLM_F_REQUEST_ACK = 0x1 | 0x4;

test('add-service: nlmsghdr, genlmsghdr and IPVS_CMD_ATTR_SERVICE as ip_vs.h lays them out', () => {
  const w = beginIpvs(new MessageWriter(), 0x1f, CMD_NEW_SERVICE, 7);
  putService(w, { family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr', persistent: { timeout: 300, netmask: '255.255.255.0' }, onePacket: false }, true);
  w.end();
  const want = genlMessage(0x1f, NLM_F_REQUEST_ACK, 7, CMD_NEW_SERVICE, nest(ATTR_SERVICE,
    nla(SVC.AF, u16(2)), // AF_INET
    nla(SVC.PROTOCOL, u16(6)), // IPPROTO_TCP
    nla(SVC.ADDR, inet(10, 0, 0, 1)),
    nla(SVC.PORT, be16(80)),
    nla(SVC.SCHED_NAME, str('wrr')),
    nla(SVC.FLAGS, [...u32(0x1), ...u32(0xffffffff)]), // struct ip_vs_flags: IP_VS_SVC_F_PERSISTENT, mask all
    nla(SVC.TIMEOUT, u32(300)),
    nla(SVC.NETMASK, [255, 255, 255, 0]),
  ));
  assert.deepEqual(w.slice(), want);
});

test('add-service by fwmark, IPv6, sh with both scheduler flags and one-packet', () => {
  const w = beginIpvs(new MessageWriter(), 0x1f, CMD_NEW_SERVICE, 8);
  putService(w, { family: 'inet6', fwmark: 42, scheduler: 'sh', schedulerFlags: { shFallback: true, shPort: true }, onePacket: true }, true);
  w.end();
  const want = genlMessage(0x1f, NLM_F_REQUEST_ACK, 8, CMD_NEW_SERVICE, nest(ATTR_SERVICE,
    nla(SVC.AF, u16(10)), // AF_INET6
    nla(SVC.FWMARK, u32(42)),
    nla(SVC.SCHED_NAME, str('sh')),
    nla(SVC.FLAGS, [...u32(0x4 | 0x8 | 0x10), ...u32(0xffffffff)]), // ONEPACKET | SCHED1 | SCHED2
    nla(SVC.TIMEOUT, u32(0)),
    nla(SVC.NETMASK, u32(128)), // IPv6: a prefix length
  ));
  assert.deepEqual(w.slice(), want);
});

test('add-server: IPVS_CMD_ATTR_DEST with the forwarding method, weights and a GUE tunnel', () => {
  const w = beginIpvs(new MessageWriter(), 0x1f, CMD_NEW_DEST, 9);
  putService(w, { family: 'inet', protocol: 'udp', address: '10.0.0.2', port: 53 }, false);
  putServer(w, 'inet', { address: '10.1.0.5', port: 5353, forward: 'tunnel', weight: 3, upperThreshold: 100, lowerThreshold: 10, tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } }, true);
  w.end();
  const want = genlMessage(0x1f, NLM_F_REQUEST_ACK, 9, CMD_NEW_DEST, Buffer.concat([
    nest(ATTR_SERVICE, nla(SVC.AF, u16(2)), nla(SVC.PROTOCOL, u16(17)), nla(SVC.ADDR, inet(10, 0, 0, 2)), nla(SVC.PORT, be16(53))),
    nest(ATTR_DEST,
      nla(DEST.ADDR, inet(10, 1, 0, 5)),
      nla(DEST.PORT, be16(5353)),
      nla(DEST.ADDR_FAMILY, u16(2)),
      nla(DEST.FWD_METHOD, u32(2)), // IP_VS_CONN_F_TUNNEL
      nla(DEST.WEIGHT, u32(3)),
      nla(DEST.U_THRESH, u32(100)),
      nla(DEST.L_THRESH, u32(10)),
      nla(DEST.TUN_TYPE, [1]), // IP_VS_CONN_F_TUNNEL_TYPE_GUE
      nla(DEST.TUN_PORT, be16(6080)),
      nla(DEST.TUN_FLAGS, u16(0x2)), // IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM
    ),
  ]));
  assert.deepEqual(w.slice(), want);
});

test('timeouts go as three top-level u32 attributes', () => {
  const w = beginIpvs(new MessageWriter(), 0x1f, CMD_SET_CONFIG, 10);
  putTimeouts(w, { tcp: 900, tcpFin: 120, udp: 300 });
  w.end();
  assert.deepEqual(w.slice(), genlMessage(0x1f, NLM_F_REQUEST_ACK, 10, CMD_SET_CONFIG, Buffer.concat([
    nla(ATTR_TIMEOUT_TCP, u32(900)), nla(ATTR_TIMEOUT_TCP_FIN, u32(120)), nla(ATTR_TIMEOUT_UDP, u32(300)),
  ])));
});

/** IPVS_STATS_ATTR_* 1..10 (CONNS..OUTBPS), each value distinct so a swapped field shows. */
const STATS: Stats = { conns: 11n, inPackets: 22n, outPackets: 33n, inBytes: 5_000_000_000n, outBytes: 6_000_000_000n, cps: 66n, inPps: 77n, outPps: 88n, inBps: 99n, outBps: 1010n };
const statsOrder = (s: Stats) => [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes, s.cps, s.inPps, s.outPps, s.inBps, s.outBps];
/** The 64-bit nest: every counter a u64. */
const stats64 = (s: Stats) => statsOrder(s).map((v, i) => nla(i + 1, u64(v)));
/** The legacy nest: u32 counters and rates, u64 byte counts (IPVS_STATS_ATTR_INBYTES, OUTBYTES). */
const stats32 = (s: Stats) => statsOrder(s).map((v, i) => nla(i + 1, i === 3 || i === 4 ? u64(v) : u32(Number(v))));

test('a service as the kernel fills it is decoded field for field, counters from the 64-bit nest', () => {
  // ip_vs_genl_fill_service: AF, PROTOCOL, ADDR, PORT, SCHED_NAME, FLAGS, TIMEOUT, NETMASK, STATS, STATS64.
  const payload = Buffer.concat([
    nla(SVC.AF, u16(2)), nla(SVC.PROTOCOL, u16(132)), nla(SVC.ADDR, inet(192, 0, 2, 7)), nla(SVC.PORT, be16(3868)),
    nla(SVC.SCHED_NAME, str('mh')),
    nla(SVC.FLAGS, [...u32(0x1 | 0x2 | 0x10), ...u32(0xffffffff)]), // PERSISTENT | HASHED | SCHED2
    nla(SVC.TIMEOUT, u32(600)),
    nla(SVC.NETMASK, [255, 255, 0, 0]),
    nest(SVC.STATS, ...stats32({ ...STATS, conns: 1n })), // the legacy nest is ignored when STATS64 is there
    nest(SVC.STATS64, ...stats64(STATS)),
  ]);
  assert.deepEqual(decodeService(payload), {
    family: 'inet', protocol: 'sctp', address: '192.0.2.7', port: 3868, scheduler: 'mh', flags: 0x11,
    persistent: { timeout: 600, netmask: '255.255.0.0' }, onePacket: false, schedulerFlags: { mhPort: true }, pe: undefined,
    stats: STATS,
  });
  assert.equal('stats' in decodeService(payload, false), false);
});

test('an IPv6 fwmark service, and the legacy stats nest alone (u32 counters, u64 bytes)', () => {
  const payload = Buffer.concat([
    nla(SVC.AF, u16(10)), nla(SVC.FWMARK, u32(99)), nla(SVC.SCHED_NAME, str('sh')),
    nla(SVC.FLAGS, [...u32(0x4 | 0x8), ...u32(0xffffffff)]), // ONEPACKET | SCHED1
    nla(SVC.TIMEOUT, u32(0)), nla(SVC.NETMASK, u32(64)), nla(SVC.PE_NAME, str('sip')),
    nest(SVC.STATS, ...stats32(STATS)),
  ]);
  assert.deepEqual(decodeService(payload), {
    family: 'inet6', fwmark: 99, scheduler: 'sh', flags: 0xc, persistent: undefined, onePacket: true,
    schedulerFlags: { shFallback: true }, pe: 'sip', stats: STATS,
  });
});

test('a real server as the kernel fills it, and what putServer sends reads back the same', () => {
  // ip_vs_genl_fill_dest: ADDR, ADDR_FAMILY, PORT, FWD_METHOD, WEIGHT, TUN_TYPE, TUN_PORT, TUN_FLAGS,
  // U_THRESH, L_THRESH, ACTIVE_CONNS, INACT_CONNS, PERSIST_CONNS, STATS, STATS64.
  const payload = Buffer.concat([
    nla(DEST.ADDR, Buffer.from('fd000000000000000000000000000021', 'hex')), nla(DEST.ADDR_FAMILY, u16(10)), nla(DEST.PORT, be16(8080)),
    nla(DEST.FWD_METHOD, u32(3)), nla(DEST.WEIGHT, u32(7)), // IP_VS_CONN_F_DROUTE
    nla(DEST.TUN_TYPE, [0]), nla(DEST.TUN_PORT, be16(0)), nla(DEST.TUN_FLAGS, u16(0)),
    nla(DEST.U_THRESH, u32(50)), nla(DEST.L_THRESH, u32(5)),
    nla(DEST.ACTIVE_CONNS, u32(4)), nla(DEST.INACT_CONNS, u32(12)), nla(DEST.PERSIST_CONNS, u32(2)),
    nest(DEST.STATS64, ...stats64(STATS)),
  ]);
  assert.deepEqual(decodeServer(payload, 'inet'), {
    address: 'fd00::21', port: 8080, family: 'inet6', forward: 'route', weight: 7, upperThreshold: 50, lowerThreshold: 5,
    activeConns: 4, inactiveConns: 12, persistentConns: 2, tunnel: undefined, stats: STATS,
  });
  // Round trip: the DEST nest putServer writes decodes to what went in.
  const w = new MessageWriter();
  w.begin(0x1f, 0, 1).genl(CMD_NEW_DEST, 1);
  putServer(w, 'inet', { address: '10.1.0.9', port: 80, forward: 'tunnel', weight: 0, tunnel: { type: 'gre', checksum: 'csum' } }, true);
  w.end();
  const destNest = parseAttrs(w.slice(), 20)[ATTR_DEST]!;
  assert.deepEqual(decodeServer(destNest, 'inet', false), {
    address: '10.1.0.9', port: 80, family: 'inet', forward: 'tunnel', weight: 0, upperThreshold: 0, lowerThreshold: 0,
    activeConns: 0, inactiveConns: 0, persistentConns: 0, tunnel: { type: 'gre', port: 0, checksum: 'csum' },
  });
});

test('info and timeouts replies', () => {
  // IPVS_INFO_ATTR_VERSION (1): 0x010201 is 1.2.1; IPVS_INFO_ATTR_CONN_TAB_SIZE (2).
  const info = Buffer.concat([Buffer.from([15, 1, 0, 0]), nla(1, u32(0x010201)), nla(2, u32(4096))]);
  assert.deepEqual(decodeInfo(info), { versionCode: 0x010201, version: '1.2.1', connTableSize: 4096 });
  const timeouts = Buffer.concat([Buffer.from([13, 1, 0, 0]), nla(ATTR_TIMEOUT_TCP, u32(900)), nla(ATTR_TIMEOUT_TCP_FIN, u32(120)), nla(ATTR_TIMEOUT_UDP, u32(300))]);
  assert.deepEqual(decodeTimeouts(timeouts), { tcp: 900, tcpFin: 120, udp: 300 });
});

test('destMatches says yes exactly when a decoded entry has the guess\' address, port, family, forwarding and weights (not for tunnels)', () => {
  const FWD = ['masq', 'local', 'tunnel', 'route', 'bypass'] as const;
  const AF = { inet: 2, inet6: 10 } as const;
  const v4 = fc.tuple(fc.constantFrom(10, 192), fc.nat(3), fc.nat(3), fc.nat(255)).map((b) => ({ family: 'inet' as const, address: b.join('.'), bytes: b }));
  const v6 = fc.tuple(fc.nat(3), fc.integer({ min: 1, max: 0xffff })).map(([a, b]) => {
    const bytes = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b >> 8, b & 0xff];
    return { family: 'inet6' as const, address: a ? `fd00::${a}:${b.toString(16)}` : `fd00::${b.toString(16)}`, bytes };
  });
  const entry = fc.record({
    addr: fc.oneof(v4, v6), port: fc.constantFrom(80, 8080, 53), forward: fc.constantFrom(...FWD),
    weight: fc.constantFrom(0, 1, 5, 0x80000000), upper: fc.constantFrom(0, 10), lower: fc.constantFrom(0, 3),
    // Kernels before 4.19 send no IPVS_DEST_ATTR_ADDR_FAMILY: the service's family then.
    withFamily: fc.boolean(),
  });
  // The guess: the entry itself (each optional field left out where it has its default), or it with one field changed.
  const change = fc.constantFrom('none', 'none', 'address', 'port', 'forward', 'weight', 'upper', 'lower', 'family');
  fc.assert(fc.property(entry, change, fc.constantFrom('inet' as const, 'inet6' as const), (e, what, svcFamily) => {
    const attrs = Buffer.concat([
      nla(DEST.ADDR, inet(...e.addr.bytes)), nla(DEST.PORT, be16(e.port)), nla(DEST.FWD_METHOD, u32(FWD.indexOf(e.forward))),
      nla(DEST.WEIGHT, u32(e.weight)), nla(DEST.U_THRESH, u32(e.upper)), nla(DEST.L_THRESH, u32(e.lower)),
      nla(DEST.ACTIVE_CONNS, u32(3)), nla(DEST.INACT_CONNS, u32(0)), nla(DEST.PERSIST_CONNS, u32(0)),
      ...(e.withFamily ? [nla(DEST.ADDR_FAMILY, u16(AF[e.addr.family]))] : []),
    ]);
    // The nest inside a reply, between other bytes: destMatches reads buf[start..end) only.
    const buf = Buffer.concat([Buffer.from([1, 2, 3, 4]), attrs, nla(DEST.PORT, be16(1))]);
    const g: RealServer = { address: e.addr.address, port: e.port };
    if (e.forward !== 'masq') g.forward = e.forward;
    if (e.weight !== 1) g.weight = e.weight;
    if (e.upper) g.upperThreshold = e.upper;
    if (e.lower) g.lowerThreshold = e.lower;
    if (e.addr.family !== svcFamily) g.family = e.addr.family;
    if (e.weight === 0x80000000) g.weight = e.weight | 0;
    if (what === 'address') g.address = e.addr.family === 'inet' ? '10.9.9.9' : 'fd00::9:9';
    if (what === 'port') g.port = e.port + 1;
    if (what === 'forward') g.forward = e.forward === 'route' ? 'masq' : 'route';
    if (what === 'weight') g.weight = e.weight + 2;
    if (what === 'upper') g.upperThreshold = e.upper + 1;
    if (what === 'lower') g.lowerThreshold = e.lower + 1;
    if (what === 'family') g.family = e.addr.family === 'inet' ? 'inet6' : 'inet';
    const d = decodeServer(buf.subarray(4, 4 + attrs.length), svcFamily, false);
    const same = d.forward !== 'tunnel' && d.address === g.address && d.port === g.port && d.family === (g.family ?? svcFamily)
      && d.forward === (g.forward ?? 'masq') && d.weight === (g.weight ?? 1)
      && d.upperThreshold === (g.upperThreshold ?? 0) && d.lowerThreshold === (g.lowerThreshold ?? 0);
    assert.equal(destMatches(buf, 4, 4 + attrs.length, svcFamily, g), same);
    if (what === 'none' && e.forward !== 'tunnel' && (e.withFamily || e.addr.family === svcFamily)) assert.equal(same, true);
  }), { numRuns: 2000 });
});

test('a server isPlainValidServer passes is valid and encodes exactly as its validated copy does', () => {
  const server = fc.record({
    address: fc.constantFrom<unknown>('10.0.0.1', '192.168.1.20', '010.0.0.1', '10.0.0.256', 'fd00::1', '::ffff:10.0.0.1', 42),
    port: fc.constantFrom<unknown>(0, 80, 65535, 65536, -1, 1.5),
    forward: fc.constantFrom<unknown>(undefined, 'masq', 'local', 'route', 'bypass', 'tunnel', 'bogus'),
    weight: fc.constantFrom<unknown>(undefined, 0, 1, 65535, 65536, -1),
    upperThreshold: fc.constantFrom<unknown>(undefined, 0, 5, 10, 2 ** 32),
    lowerThreshold: fc.constantFrom<unknown>(undefined, 0, 5, 10),
    family: fc.constantFrom<unknown>(undefined, 'inet', 'inet6'),
    tunnel: fc.constantFrom<unknown>(undefined, { type: 'ipip' }),
  }, { requiredKeys: ['address', 'port'] }) as fc.Arbitrary<RealServer>;
  const encode = (svcFamily: 'inet' | 'inet6', s: RealServer) => {
    const w = new MessageWriter();
    w.begin(0x1f, 0, 1).genl(CMD_NEW_DEST, 1);
    putServer(w, svcFamily, s, true);
    return w.end().slice();
  };
  let plain = 0;
  fc.assert(fc.property(server, fc.constantFrom('inet' as const, 'inet6' as const), (s, family) => {
    const key = { family, protocol: 'tcp' as const, address: family === 'inet' ? '10.96.0.1' : 'fd00::a', port: 80 };
    if (!isPlainValidServer(key, s)) return;
    plain++;
    assert.deepEqual(encode(family, s), encode(family, validateServerOf(key, s)));
  }), { numRuns: 6000 });
  // About one draw in 60 is plain: enough that the comparison above ran.
  assert.ok(plain > 20, `only ${plain} plain servers drawn`);
  assert.equal(isPlainValidServer({ family: 'inet', protocol: 'tcp', address: '10.96.0.1', port: 80 }, { address: '10.0.0.1', port: 8080 }), true);
});

test('putPlainServer writes the bytes putServer writes, for any plain IPv4 real server', () => {
  const server = fc.record({
    address: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.')),
    port: fc.integer({ min: 0, max: 65535 }),
    forward: fc.constantFrom(undefined, 'masq', 'local', 'route', 'bypass'),
    weight: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    upperThreshold: fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }),
    lowerThreshold: fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }),
    family: fc.constantFrom(undefined, 'inet'),
  }, { requiredKeys: ['address', 'port'] }) as fc.Arbitrary<RealServer>;
  const key = { family: 'inet' as const, protocol: 'tcp' as const, address: '10.96.0.1', port: 80 };
  // Two servers after a service in one writer, as a batch has them: the copies land mid-buffer, and
  // the second after the buffer has grown (64 bytes to start).
  const encode = (put: (w: MessageWriter, s: RealServer) => void, a: RealServer, b: RealServer) => {
    const w = new MessageWriter(64);
    w.begin(0x1f, 0, 1).genl(CMD_NEW_DEST, 1);
    putService(w, key, false);
    put(w, a);
    put(w, b);
    return w.end().slice();
  };
  let plain = 0;
  fc.assert(fc.property(server, server, (a, b) => {
    if (!isPlainValidServer(key, a) || !isPlainValidServer(key, b)) return;
    plain++;
    assert.deepEqual(encode(putPlainServer, a, b), encode((w, s) => putServer(w, 'inet', s, true), a, b));
  }), { numRuns: 3000 });
  assert.ok(plain > 1000, `only ${plain} plain pairs drawn`);
  // A server that is not a dotted quad is refused, not half-written.
  assert.throws(() => putPlainServer(new MessageWriter(), { address: 'fd00::1', port: 80 }), /not a plain IPv4 real server/);
});

test('serviceKeyOfNest is the decoded service\'s key; serviceMatches says yes exactly when the decoded service is the same (same key)', () => {
  const svc = fc.record({
    v6: fc.boolean(), fwmark: fc.constantFrom(0, 0, 7), protocol: fc.constantFrom(6, 17, 132), last: fc.integer({ min: 1, max: 3 }),
    port: fc.constantFrom(0, 53, 80), scheduler: fc.constantFrom('rr', 'sh', 'mh', 'wlc'),
    flags: fc.integer({ min: 0, max: 0x3f }), timeout: fc.constantFrom(0, 300, 10800), mask: fc.constantFrom(24, 32, 64, 128),
    pe: fc.constantFrom('', 'sip'),
  });
  const nestOf = (o: typeof svc extends fc.Arbitrary<infer T> ? T : never) => Buffer.concat([
    nla(SVC.AF, u16(o.v6 ? 10 : 2)),
    ...(o.fwmark ? [nla(SVC.FWMARK, u32(o.fwmark))] : [
      nla(SVC.PROTOCOL, u16(o.protocol)), nla(SVC.ADDR, o.v6 ? inet(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, o.last) : inet(10, 96, 0, o.last)),
      nla(SVC.PORT, be16(o.port)),
    ]),
    nla(SVC.SCHED_NAME, str(o.scheduler)), nla(SVC.FLAGS, [...u32(o.flags), ...u32(0xffffffff)]), nla(SVC.TIMEOUT, u32(o.timeout)),
    nla(SVC.NETMASK, o.v6 ? u32(o.mask) : Buffer.from([255, 255, o.mask >= 24 ? 255 : 0, o.mask >= 32 ? 255 : 0])),
    ...(o.pe ? [nla(SVC.PE_NAME, str(o.pe))] : []),
    nla(SVC.STATS64, Buffer.alloc(0)),
  ]);
  // The other service: a with one field changed (or none), so that each field alone decides some runs.
  const change = fc.constantFrom('none', 'scheduler', 'flags', 'timeout', 'mask', 'pe');
  fc.assert(fc.property(svc, svc, change, (a, other, what) => {
    const b = what === 'none' ? a : what === 'flags' ? { ...a, flags: other.flags } : { ...a, [what]: other[what as keyof typeof other] };
    const na = nestOf(a);
    const da = decodeService(na, false);
    assert.equal(serviceKeyOfNest(na), serviceKeyString(da));
    assert.equal(serviceMatches(na, da), true);
    const db = decodeService(nestOf(b), false);
    assert.equal(serviceMatches(na, db), sameServiceInfo(da, db));
  }), { numRuns: 3000 });
  // What the engine's model holds for a service kipvs added (serviceInfoOf) matches the kernel's dump of it.
  const added = validateService({ family: 'inet', protocol: 'udp', address: '10.96.0.3', port: 53, scheduler: 'sh', schedulerFlags: { shPort: true }, persistent: { timeout: 300 }, onePacket: true });
  const w = beginIpvs(new MessageWriter(), 0x1f, CMD_NEW_SERVICE, 1);
  putService(w, added, true);
  w.end();
  const written = parseAttrs(w.slice(), 20)[ATTR_SERVICE]!;
  assert.equal(serviceMatches(written, serviceInfoOf(added)), true);
  assert.equal(serviceMatches(written, { ...serviceInfoOf(added), scheduler: 'rr' }), false);
});
