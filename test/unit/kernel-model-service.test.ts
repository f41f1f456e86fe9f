// sameServiceInfo (src/backends/ipvs/kernel-model.ts): a reconcile keeps the model's object for a
// virtual service only when the dump says the same in every field; any one field changed by hand
// (ipvsadm -E) must make it take the dumped one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { sameServiceInfo } from '../../src/backends/ipvs/kernel-model.js';
import type { ServiceInfo } from '../../src/ipvs/types.js';

const base: ServiceInfo = {
  family: 'inet', protocol: 'tcp', address: '10.96.0.10', port: 53, scheduler: 'rr', flags: 0x1,
  persistent: { timeout: 10800, netmask: '255.255.255.255' }, onePacket: false, schedulerFlags: {}, pe: undefined,
} as ServiceInfo;

test('sameServiceInfo: an equal copy is the same; each field changed on its own is not', () => {
  assert.equal(sameServiceInfo(base, structuredClone(base)), true);
  const changes: Partial<Record<string, unknown>>[] = [
    { family: 'inet6' }, { protocol: 'udp' }, { address: '10.96.0.11' }, { port: 54 }, { scheduler: 'wrr' }, { flags: 0x3 },
    { persistent: undefined }, { persistent: { timeout: 60, netmask: '255.255.255.255' } }, { persistent: { timeout: 10800, netmask: '255.255.255.0' } },
    { onePacket: true }, { schedulerFlags: { shFallback: true } }, { schedulerFlags: { shPort: true } }, { schedulerFlags: { mhFallback: true } },
    { schedulerFlags: { mhPort: true } }, { pe: 'sip' },
  ];
  for (const c of changes) {
    const other = { ...structuredClone(base), ...c } as ServiceInfo;
    assert.equal(sameServiceInfo(base, other), false, JSON.stringify(c));
    assert.equal(sameServiceInfo(other, base), false, JSON.stringify(c));
  }
  const fw = { family: 'inet', fwmark: 7, scheduler: 'rr', flags: 0, onePacket: false, schedulerFlags: {} } as ServiceInfo;
  assert.equal(sameServiceInfo(fw, { ...fw }), true);
  assert.equal(sameServiceInfo(fw, { ...fw, fwmark: 8 } as ServiceInfo), false);
  assert.equal(sameServiceInfo(fw, base), false);
});
