// The kernel settings of kube-proxy's IPVS mode: sysctls and IPVS connection timeouts.
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import type { IpvsClient } from '../../ipvs/client.js';
import type { Timeouts } from '../../ipvs/types.js';
import type { Logger } from '../backend.js';

/** Kernel settings kube-proxy's IPVS mode makes (see the reference's sysctl rows): path and value. */
export function wantedSysctls(strictARP: boolean, kernelRelease: string = release()): [path: string, value: string][] {
  const out: [string, string][] = [
    ['/proc/sys/net/ipv4/vs/conntrack', '1'],
    ['/proc/sys/net/ipv4/vs/expire_nodest_conn', '1'],
    ['/proc/sys/net/ipv4/vs/expire_quiescent_template', '1'],
    ['/proc/sys/net/ipv4/ip_forward', '1'],
  ];
  // conn_reuse_mode: 0 on 4.1 <= kernel < 5.9 (the 1 s SYN drop); left alone from 5.9 on.
  const [maj = 0, min = 0] = kernelRelease.split('.').map((x) => parseInt(x, 10));
  if (maj < 5 || (maj === 5 && min < 9)) out.push(['/proc/sys/net/ipv4/vs/conn_reuse_mode', '0']);
  if (strictARP) out.push(['/proc/sys/net/ipv4/conf/all/arp_ignore', '1'], ['/proc/sys/net/ipv4/conf/all/arp_announce', '2']);
  return out;
}

export function applySysctls(opts: { strictARP: boolean; log: Logger }): void {
  for (const [path, value] of wantedSysctls(opts.strictARP)) {
    try {
      if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
    } catch (err) {
      opts.log.warn({ sysctl: path, err: (err as Error).message }, 'cannot set sysctl');
    }
  }
}

/** IPVS connection timeouts from the configuration; 0 keeps the kernel's value. */
export function applyTimeouts(ipvs: IpvsClient, t: Partial<Timeouts>, log: Logger): void {
  if ((t.tcp ?? 0) > 0 || (t.tcpFin ?? 0) > 0 || (t.udp ?? 0) > 0) {
    ipvs.setTimeouts({ tcp: t.tcp ?? 0, tcpFin: t.tcpFin ?? 0, udp: t.udp ?? 0 });
    log.info({ timeouts: t }, 'IPVS timeouts set');
  }
}
