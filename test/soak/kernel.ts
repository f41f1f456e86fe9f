// The soak's view of the kernel, through the real tools (ipvsadm, ip, ipset, iptables-save): what is
// programmed, read asynchronously so the soak's own event loop (the fake API server) keeps going,
// and compared object by object with the desired state.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { COMPARED_SETS, type DesiredKernel, type VirtualService } from './cluster.js';
import type { VipBinding } from '../../src/link/route-codec.js';

const run = promisify(execFile);

async function out(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
}

/** `ipvsadm -Sn` parsed: "tcp/10.96.100.1:80" -> scheduler, persistence, servers with weights. */
export function parseIpvsadmSave(text: string): Map<string, VirtualService> {
  const out = new Map<string, VirtualService>();
  for (const line of text.split('\n')) {
    const m = /^-([Aa]) -([tuf]) (\S+)(.*)$/.exec(line.trim());
    if (!m) continue;
    const proto = m[2] === 't' ? 'tcp' : m[2] === 'u' ? 'udp' : 'fwm';
    const key = `${proto}/${m[3]}`;
    const rest = m[4]!;
    if (m[1] === 'A') {
      out.set(key, {
        scheduler: /-s (\S+)/.exec(rest)?.[1] ?? '',
        persistent: Number(/-p (\d+)/.exec(rest)?.[1] ?? 0),
        servers: new Map(),
      });
    } else {
      const server = /-r (\S+)/.exec(rest)?.[1];
      const weight = Number(/-w (\d+)/.exec(rest)?.[1] ?? NaN);
      if (server) out.get(key)?.servers.set(server, weight);
    }
  }
  return out;
}

export async function readIpvs(): Promise<Map<string, VirtualService>> {
  return parseIpvsadmSave(await out('ipvsadm', ['-Sn']));
}

/**
 * At a failed request: the kernel's connection entries for the target (IPVS' connection table, and
 * conntrack's), narrowed to the client's local port when known, so that a failure says which real server
 * IPVS chose and in what state the flow was left, instead of only which servers it had.
 */
export async function connectionsOf(proto: 'tcp' | 'udp', host: string, port: number, localPort?: number): Promise<string[]> {
  const [ipvs, ct] = await Promise.all([
    out('ipvsadm', ['-Lcn']).catch((e: Error) => `ipvsadm -Lcn failed: ${e.message}`),
    out('conntrack', ['-L', '-p', proto, '--dport', String(port)]).catch((e: Error) => `conntrack -L failed: ${e.message}`),
  ]);
  const target = `${host}:${port}`;
  const mine = (l: string) => localPort === undefined || new RegExp(`[:=]${localPort}\\b`).test(l);
  return [
    ...ipvs.split('\n').filter((l) => l.includes(target) && l.toUpperCase().startsWith(proto.toUpperCase()) && mine(l)).map((l) => `ipvs: ${l.trim().replace(/\s+/g, ' ')}`),
    ...ct.split('\n').filter((l) => l.includes(`dport=${port}`) && l.includes(`dst=${host}`) && mine(l)).map((l) => `conntrack: ${l.trim().replace(/\s+/g, ' ')}`),
  ].slice(0, 8);
}

export interface KernelState extends DesiredKernel {
  /** The nat table's jumps into KUBE- chains from the built-in chains, as iptables-save prints them. */
  natJumps: string[];
}

/** The IPv4 VIPs bound as `binding` binds them: kube-ipvs0's addresses, or kipvs' local routes (`ip`'s view). */
export async function readVips(binding: VipBinding): Promise<Set<string>> {
  if (binding === 'local-route') {
    const routes = await out('ip', ['-4', 'route', 'show', 'table', 'local', 'proto', '107']);
    return new Set([...routes.matchAll(/^local (\S+) dev lo /gm)].map((m) => m[1]!));
  }
  const addrs = await out('ip', ['-4', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']).catch(() => '');
  return new Set([...addrs.matchAll(/inet (\S+)\/32/g)].map((m) => m[1]!));
}

export async function readKernel(binding: VipBinding = 'address'): Promise<KernelState> {
  const [virtualServices, vips, sets, nat] = await Promise.all([
    readIpvs(),
    readVips(binding),
    out('ipset', ['save']),
    out('iptables-save', ['-t', 'nat']),
  ]);
  const ipsets = new Map(COMPARED_SETS.map((n) => [n, new Set<string>()]));
  for (const m of sets.matchAll(/^add (\S+) (\S+)/gm)) ipsets.get(m[1]!)?.add(m[2]!);
  const natJumps = nat.split('\n').filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING) .*-j KUBE-/.test(l));
  return { virtualServices, vips, ipsets, natJumps };
}

/**
 * Object-by-object differences between the kernel and the desired state, as readable lines (empty:
 * equal). Virtual services are compared when they belong to the soak: a ClusterIP of its, or a port
 * among its NodePorts (on any node address; the desired state names the addresses that must be there).
 * `nodePorts` is the set of the soak's NodePorts. iptables: every jump in `expectJumps` present.
 */
export function compareKernel(want: DesiredKernel, have: KernelState, nodePorts: Set<number>, expectJumps: string[]): string[] {
  const diffs: string[] = [];
  const ours = (key: string) => {
    const m = /^(\w+)\/([\d.]+):(\d+)$/.exec(key);
    return !!m && (want.vips.has(m[2]!) || nodePorts.has(Number(m[3])));
  };
  for (const [key, w] of want.virtualServices) {
    const h = have.virtualServices.get(key);
    if (!h) { diffs.push(`virtual service ${key}: missing`); continue; }
    if (h.scheduler !== w.scheduler) diffs.push(`virtual service ${key}: scheduler ${h.scheduler}, want ${w.scheduler}`);
    if (h.persistent !== w.persistent) diffs.push(`virtual service ${key}: persistence ${h.persistent}, want ${w.persistent}`);
    for (const [s, weight] of w.servers) {
      const hw = h.servers.get(s);
      if (hw === undefined) diffs.push(`real server ${key} -> ${s}: missing`);
      else if (hw !== weight) diffs.push(`real server ${key} -> ${s}: weight ${hw}, want ${weight}`);
    }
    for (const [s, hw] of h.servers) if (!w.servers.has(s)) diffs.push(`real server ${key} -> ${s}: not wanted (weight ${hw})`);
  }
  // NodePort virtual services on other node addresses must carry the same servers as the one wanted.
  for (const [key, h] of have.virtualServices) {
    if (want.virtualServices.has(key) || !ours(key)) continue;
    const port = Number(/:(\d+)$/.exec(key)![1]);
    const twin = [...want.virtualServices.entries()].find(([k]) => k.startsWith(key.split('/')[0]! + '/') && k.endsWith(`:${port}`) && nodePorts.has(port));
    if (!twin) { diffs.push(`virtual service ${key}: not wanted`); continue; }
    const a = [...h.servers.entries()].map(([s, w]) => `${s}*${w}`).sort().join(',');
    const b = [...twin[1].servers.entries()].map(([s, w]) => `${s}*${w}`).sort().join(',');
    if (a !== b) diffs.push(`virtual service ${key}: servers ${a || '(none)'}, want ${b || '(none)'} (as ${twin[0]})`);
  }
  for (const v of want.vips) if (!have.vips.has(v)) diffs.push(`kube-ipvs0 address ${v}: missing`);
  for (const v of have.vips) if (!want.vips.has(v)) diffs.push(`kube-ipvs0 address ${v}: not wanted`);
  for (const [name, entries] of want.ipsets) {
    const got = have.ipsets.get(name) ?? new Set<string>();
    for (const e of entries) if (!got.has(e)) diffs.push(`ipset ${name} ${e}: missing`);
    for (const e of got) if (!entries.has(e)) diffs.push(`ipset ${name} ${e}: not wanted`);
  }
  for (const j of expectJumps) if (!have.natJumps.includes(j)) diffs.push(`iptables nat rule "${j}": missing`);
  return diffs;
}
