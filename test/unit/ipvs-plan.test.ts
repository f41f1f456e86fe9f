// The IPVS plan (pure): what a sync would do, given the desired state and the kernel's, with ownership
// and ipvs.excludeCIDRs deciding what may be deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type DesiredIpvs, type DesiredService, type KernelModel, type KernelService } from '../../src/backends/ipvs/plan.js';
import { serviceKeyString, serverKeyString } from '../../src/ipvs/keys.js';
import type { VirtualService, RealServer } from '../../src/ipvs/types.js';

const vs = (address: string, port: number, scheduler = 'rr'): VirtualService => ({ family: 'inet', protocol: 'udp', address, port, scheduler });
const rs = (address: string): RealServer => ({ address, port: 53, forward: 'masq', weight: 1 });

function desired(entries: [VirtualService, RealServer[]][]): DesiredIpvs {
  const services = new Map<string, DesiredService>();
  for (const [service, servers] of entries) services.set(serviceKeyString(service), { service, servers: new Map(servers.map((s) => [serverKeyString(s), s])) });
  return { services, boundAddresses: new Set() };
}
function kernel(entries: [VirtualService, RealServer[]][]): KernelModel {
  const d = desired(entries);
  const services = new Map([...d.services].map(([k, v]) => [k, {
    service: { ...v.service, onePacket: false, schedulerFlags: {} },
    servers: new Map([...v.servers].map(([sk, s]) => [sk, { ...s }])),
  }]));
  return { services, boundAddresses: new Set() } as unknown as KernelModel;
}
const ops = (p: ReturnType<typeof plan>) => p.operations.map((o) => `${o.op} ${o.service.address}${'server' in o ? ` ${o.server.address}` : ''}${o.op === 'update-service' ? ` ${o.service.scheduler}` : ''}`);
const excluded = (s: { address?: string }) => s.address?.startsWith('10.96.200.') ?? false;

test('excludeCIDRs protect from deletion only: a wanted service there is created, updated and its servers kept right', () => {
  const want = desired([[vs('10.96.200.2', 53), [rs('10.244.0.1'), rs('10.244.0.2')]]]);
  // Missing: created with its servers.
  assert.deepEqual(ops(plan(want, kernel([]), { owns: () => true, excluded, draining: new Set() })),
    ['add-service 10.96.200.2', 'add-server 10.96.200.2 10.244.0.1', 'add-server 10.96.200.2 10.244.0.2']);
  // Drifted: scheduler, a missing and a stray server (UDP: deleted at once).
  const have = kernel([[vs('10.96.200.2', 53, 'wrr'), [rs('10.244.0.1'), rs('10.244.0.9')]]]);
  assert.deepEqual(ops(plan(want, have, { owns: () => true, excluded, draining: new Set() })),
    ['update-service 10.96.200.2 rr', 'add-server 10.96.200.2 10.244.0.2', 'delete-server 10.96.200.2 10.244.0.9']);
  // Unwanted: left alone though owned.
  assert.deepEqual(ops(plan(desired([]), have, { owns: () => true, excluded, draining: new Set() })), []);
});

test('an unwanted service is deleted only when kipvs owns it', () => {
  const have = kernel([[vs('10.96.1.1', 53), [rs('10.244.0.1')]], [vs('192.0.2.9', 53), [rs('10.244.0.1')]]]);
  const owns = (_k: string, s: { address?: string }) => s.address === '10.96.1.1';
  assert.deepEqual(ops(plan(desired([]), have, { owns, excluded, draining: new Set() })), ['delete-service 10.96.1.1']);
});

test('VIPs to bind and unbind are compared unless the sync says none changed', () => {
  const want = desired([[vs('10.96.1.1', 53), [rs('10.244.0.1')]]]);
  want.boundAddresses = new Set(['10.96.1.1', '10.96.1.2']);
  const have = kernel([[vs('10.96.1.1', 53), [rs('10.244.0.1')]]]);
  have.boundAddresses = new Set(['10.96.1.1', '10.96.1.3']);
  const base = { owns: () => true, excluded, draining: new Set<string>(), only: [serviceKeyString(vs('10.96.1.1', 53))] };
  const compared = plan(want, have, base);
  assert.deepEqual([compared.bind, compared.unbind], [['10.96.1.2'], ['10.96.1.3']]);
  assert.deepEqual(plan(want, have, { ...base, addresses: true }).bind, ['10.96.1.2']);
  const skipped = plan(want, have, { ...base, addresses: false });
  assert.deepEqual([skipped.bind, skipped.unbind, ops(skipped)], [[], [], []]);
});

test('a kernel entry that shares the desired Map of servers plans nothing, and only a service with a server draining is looked up by draining key', () => {
  const want = desired([[vs('10.96.1.1', 53), [rs('10.1.0.1'), rs('10.1.0.2')]], [vs('10.96.1.2', 53), [rs('10.1.0.3')]]]);
  const shared = kernel([]);
  for (const [key, d] of want.services) shared.services.set(key, { service: { ...d.service, onePacket: false, schedulerFlags: {} }, servers: d.servers, shared: true } as unknown as KernelService);
  const copied = kernel([[vs('10.96.1.1', 53), [rs('10.1.0.1'), rs('10.1.0.2')]], [vs('10.96.1.2', 53), [rs('10.1.0.3')]]]);
  /** A Set that counts its lookups. */
  class Counted extends Set<string> {
    lookups = 0;
    override has(k: string): boolean {
      this.lookups++;
      return super.has(k);
    }
  }
  const key = serviceKeyString(vs('10.96.1.1', 53));
  for (const drainingKeys of [[], [`${key}|${serverKeyString(rs('10.1.0.2'))}`]]) {
    const draining = new Counted(drainingKeys);
    const a = plan(want, shared, { owns: () => true, excluded, draining });
    assert.deepEqual(ops(a), []);
    // Nothing draining: no lookup at all; one server of 10.96.1.1 draining: its two servers only.
    assert.equal(draining.lookups, drainingKeys.length ? 2 : 0);
    const b = plan(want, copied, { owns: () => true, excluded, draining: new Set(drainingKeys) });
    assert.deepEqual(a.undrain, b.undrain);
    assert.equal(a.undrain.length, drainingKeys.length);
  }
});
