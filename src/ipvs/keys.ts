// String keys for virtual services and real servers. The desired state and the kernel model use the
// same keys, so a diff is a comparison of two maps.
import type { ServiceKey, RealServerKey } from './types.js';

/** "inet/tcp/10.96.0.10/80", "inet6/udp/fd00::a/53", "inet/fwmark/7". Addresses must be canonical. */
export function serviceKeyString(k: ServiceKey): string {
  return k.fwmark !== undefined ? `${k.family}/fwmark/${k.fwmark}` : `${k.family}/${k.protocol}/${k.address}/${k.port}`;
}

/** "10.244.1.2/8080", "fd00::2/8080". */
export function serverKeyString(k: RealServerKey): string {
  return `${k.address}/${k.port}`;
}
