// The benchmark's floor: all the kernel work the agent's initial sync must do for N Services x M
// endpoints, each part done the fastest way we know, in fresh network namespaces of the same boot:
//   (a) the IPVS virtual and real servers, one batched netlink apply (kipvs' IPVS client);
//   (b) the VIPs, both ways (kipvs' link client, one batched rtnetlink add each): addresses on a dummy
//       kube-ipvs0, and local routes (--vip-binding local-route) in a namespace of their own; the way
//       the agent runs with (--vip-binding) counts;
//   (c) the ipsets and their entries, both with `ipset restore` (in a namespace of its own) and with
//       kipvs' batched ipset client; the faster counts;
//   (d) one iptables-restore per family of the rules IPVS mode writes.
// What to program comes from the agent's own model and renderers (bench-floor-plan.ts), fed the same
// Services the agent gets. The parent (runFloor) makes the namespaces and runs measureFloor() in a
// child process inside one of them: a fresh IPVS table each time (after a flush the kernel keeps
// deleted real servers for about two minutes and walks them on every add).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IpvsClient } from '../../src/ipvs/client.js';
import { LinkClient, type AddressFailure, type VipBinding } from '../../src/link/link.js';
import { IpsetClient } from '../../src/ipset/client.js';
import { hasRandomFully } from '../../src/iptables/iptables.js';
import { ProxyModel } from '../../src/model/model.js';
import { feedModel } from '../../src/agent/feed.js';
import { familiesToProgram } from '../../src/agent/families.js';
import { ipvsRuleSet, nonEmptySetKeys } from '../../src/backends/ipvs/backend.js';
import { service as benchService, slice as benchSlice } from './bench-objects.js';
import { freshNamespace, deleteNamespaces, timeInNamespace, settle } from './netns.js';
import { ipsetFloorPlan, ipsetRestoreInput, ipvsFloorOperations, initialRestoreInput, floorTotals, round1, type FloorParts } from './bench-floor-plan.js';
import type { Progress } from './bench-progress.js';
import { cpuMs } from './cpu.js';

export interface FloorResult extends FloorParts {
  ipsetMs: number;
  ipsetWay: string;
  sumMs: number;
  /** What was programmed, counted from the kernel after each part. */
  ipvsServices: number;
  ipvsServers: number;
  vips: number;
  ipsets: number;
  ipsetEntries: number;
  ipsetEntriesRestored: number;
  iptablesLines: number;
  families: string[];
  /** CPU of (a) and (b), this process' threads: nearly all of it the kernel's work in the system calls. */
  ipvsCpuMs?: number;
  vipCpuMs?: number;
  /** The way of (b) that counts in vipMs and the sum: the agent's --vip-binding. */
  vipBinding?: VipBinding;
  /** (b) as local routes (in the second namespace), and its CPU. */
  vipRouteMs?: number;
  vipRouteCpuMs?: number;
  /** (b) as addresses on kube-ipvs0, and its CPU. */
  vipAddressMs?: number;
  vipAddressCpuMs?: number;
  /** Sets given a maxelem above the default to fit their entries. */
  raisedMaxelem: { set: string; entries: number }[];
  /** Reading it all back with the tools: ipvsadm -Sn + ipset save + iptables-save (each family), and each. */
  readMs: number;
  readIpvsadmMs: number;
  readIpsetMs: number;
  readIptablesMs: number;
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const TARGET_PORT = 8080;

/** Sum of the entries the kernel holds in `sets`, read back through the client. */
function kernelEntries(client: IpsetClient, sets: string[]): number {
  return sets.reduce((a, s) => a + (client.header(s)?.entries ?? 0), 0);
}

/**
 * Run in the child, inside a fresh namespace: build the agent's model of the bench Services, then
 * program each part and time it. `ipsetRestoreNs` is a second fresh namespace for `ipset restore`.
 * Throws when the kernel refuses anything or holds other counts than asked.
 */
export function measureFloor(o: { services: number; endpoints: number; ipsetRestoreNs: string; progress: Progress; vipBinding?: VipBinding }): FloorResult {
  const { services: N, endpoints: M, progress } = o;
  if (!o.ipsetRestoreNs) throw new Error('floor: no namespace for ipset restore (--ipset-restore-ns)');
  const families = familiesToProgram({ iptables: true, bindAddress: '', log: quiet });
  const model = progress.step(`floor: the agent's model of ${N.toLocaleString('en-US')} Services`, () => {
    const m = new ProxyModel({ scheduler: 'rr', nodeName: 'node-0', families, backend: 'ipvs' });
    for (let i = 0; i < N; i++) {
      feedModel(m, 'node-0', 'Service', benchService(i, TARGET_PORT), false);
      feedModel(m, 'node-0', 'EndpointSlice', benchSlice(i, M, TARGET_PORT), false);
    }
    m.commit();
    return m;
  });
  const ops = ipvsFloorOperations(model.desired);
  const vips = [...model.desired.boundAddresses];
  const plan = ipsetFloorPlan(model.ipsetEntries(), families);
  const randomFully = hasRandomFully();
  const cfg = { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] };
  const restores = families.map((family) => ({
    bin: family === 'inet' ? 'iptables-restore' : 'ip6tables-restore',
    input: initialRestoreInput(ipvsRuleSet(cfg, family, { randomFully, closed: [], sets: nonEmptySetKeys(model, family), podCIDRs: [] })),
  }));

  // (a) IPVS.
  const ipvs = IpvsClient.open();
  let ipvsCpuMs = 0;
  const ipvsMs = progress.step(`floor: IPVS, ${ops.length.toLocaleString('en-US')} objects in one batch`, () => {
    const t = performance.now(), c = process.cpuUsage();
    const r = ipvs.apply(ops);
    const ms = performance.now() - t;
    ipvsCpuMs = cpuMs(process.cpuUsage(c));
    if (r.failures.length) throw new Error(`floor: ${r.failures.length} IPVS operations failed, the first: ${r.failures[0]!.error.message}`);
    return ms;
  });
  let kernelServices = 0;
  let ipvsServers = 0;
  ipvs.forEachEntry({ stats: false }, (_s, servers) => {
    kernelServices++;
    ipvsServers += servers.length;
  });
  ipvs.close();

  // (b) The VIPs: wall and CPU of one batched bind, which throws on any refusal.
  const bindVips = (what: string, bind: () => AddressFailure[]): { ms: number; cpuMs: number } => {
    let cpu = 0;
    const ms = progress.step(`floor: ${vips.length.toLocaleString('en-US')} VIPs ${what}`, () => {
      const t = performance.now(), c = process.cpuUsage();
      const failed = bind();
      const ms = performance.now() - t;
      cpu = cpuMs(process.cpuUsage(c));
      if (failed.length) throw new Error(`floor: ${failed.length} VIPs ${what} refused, the first: ${failed[0]!.address}: ${failed[0]!.error.message}`);
      return ms;
    });
    return { ms, cpuMs: cpu };
  };
  // On kube-ipvs0 ...
  const link = LinkClient.open();
  const byAddress = bindVips('on kube-ipvs0', () => link.addAddresses(link.ensureDummy('kube-ipvs0').index, vips));
  const bound = link.addresses(link.link('kube-ipvs0')!.index).length;
  link.close();
  // ... and as local routes, in the other namespace (its routing table is empty of them).
  const routeLink = LinkClient.open({ netns: `/run/netns/${o.ipsetRestoreNs}` });
  const asRoutes = bindVips('as local routes', () => routeLink.addLocalRoutes(vips));
  const routed = routeLink.localRoutes().length;
  routeLink.close();
  if (routed !== vips.length) throw new Error(`floor: the kernel holds ${routed} local routes of kipvs, asked for ${vips.length}`);
  const counted = o.vipBinding === 'local-route' ? asRoutes : byAddress;

  // (c) ipsets: kipvs' client here, `ipset restore` in the other namespace.
  const ipset = IpsetClient.open();
  const ipsetClientMs = progress.step(`floor: ipset client, ${plan.sets.length} sets, ${plan.ops.length.toLocaleString('en-US')} entries`, () => {
    const t = performance.now();
    for (const s of plan.sets) ipset.create(s);
    const r = ipset.apply(plan.ops);
    const ms = performance.now() - t;
    if (r.failures.length) throw new Error(`floor: ${r.failures.length} ipset entries refused, the first: ${r.failures[0]!.op.entry} in ${r.failures[0]!.op.set}: ${r.failures[0]!.error.message}`);
    return ms;
  });
  const setNames = plan.sets.map((s) => s.name);
  const ipsetEntries = kernelEntries(ipset, setNames);

  const dir = mkdtempSync(join(tmpdir(), 'kipvs-floor-'));
  let ipsetRestoreMs: number;
  let ipsetEntriesRestored: number;
  try {
    const file = join(dir, 'ipset.restore');
    writeFileSync(file, ipsetRestoreInput(plan));
    // ipset looks each entry's protocol name up in /etc/protocols, which this sandbox serves over 9p
    // (milliseconds a read); a node has it on a local disk, in the page cache. Untimed, the namespace's
    // own mount namespace (ip netns exec makes one) gets a copy of it on the guest's local /tmp.
    const setup = `cp /etc/protocols ${dir}/protocols && mount --bind ${dir}/protocols /etc/protocols || true`;
    ipsetRestoreMs = progress.step(`floor: ipset restore, ${plan.ops.length.toLocaleString('en-US')} entries`, () => timeInNamespace(o.ipsetRestoreNs, setup, `ipset restore -f ${file}`));
    const other = IpsetClient.open({ netns: `/run/netns/${o.ipsetRestoreNs}` });
    ipsetEntriesRestored = kernelEntries(other, setNames);
    other.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  ipset.close();

  // (d) The iptables rules, which match the sets made in (c).
  let iptablesLines = 0;
  const iptablesMs = progress.step(`floor: iptables-restore (${families.join(', ')})`, () => {
    let ms = 0;
    for (const r of restores) {
      iptablesLines += r.input.split('\n').filter((l) => l.startsWith('-')).length;
      const t = performance.now();
      execFileSync(r.bin, ['--noflush', '--wait'], { input: r.input, stdio: ['pipe', 'ignore', 'pipe'] });
      ms += performance.now() - t;
    }
    return ms;
  });

  // (e) What a no-op reconcile is held against (issue 12): reading the same state back with the tools,
  // their output thrown away.
  const readMs = { ipvsadm: 0, ipset: 0, iptables: 0 };
  progress.step('floor: reading it back (ipvsadm -Sn, ipset save, iptables-save)', () => {
    const time = (bin: string, args: string[]) => {
      const t = performance.now();
      execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28 });
      return performance.now() - t;
    };
    readMs.ipvsadm = time('ipvsadm', ['-Sn']);
    readMs.ipset = time('ipset', ['save']);
    for (const r of restores) readMs.iptables += time(r.bin.replace(/-restore$/, '-save'), []);
  });

  const parts: FloorParts = { ipvsMs: round1(ipvsMs), vipMs: round1(counted.ms), ipsetRestoreMs: round1(ipsetRestoreMs), ipsetClientMs: round1(ipsetClientMs), iptablesMs: round1(iptablesMs) };
  const want = { services: model.desired.services.size, servers: ops.length - model.desired.services.size, vips: vips.length, entries: plan.ops.length };
  const got = { services: kernelServices, servers: ipvsServers, vips: bound, entries: ipsetEntries };
  if (JSON.stringify(want) !== JSON.stringify(got) || ipsetEntriesRestored !== plan.ops.length) {
    throw new Error(`floor: the kernel holds ${JSON.stringify(got)} (ipset restore: ${ipsetEntriesRestored} entries), asked for ${JSON.stringify(want)}`);
  }
  return {
    ...parts, ...floorTotals(parts),
    ipvsCpuMs, vipCpuMs: counted.cpuMs,
    vipBinding: o.vipBinding ?? 'address',
    vipAddressMs: round1(byAddress.ms), vipAddressCpuMs: byAddress.cpuMs, vipRouteMs: round1(asRoutes.ms), vipRouteCpuMs: asRoutes.cpuMs,
    ipvsServices: got.services, ipvsServers, vips: bound, ipsets: plan.sets.length, ipsetEntries, ipsetEntriesRestored, iptablesLines,
    families, raisedMaxelem: plan.raised,
    readMs: round1(readMs.ipvsadm + readMs.ipset + readMs.iptables),
    readIpvsadmMs: round1(readMs.ipvsadm), readIpsetMs: round1(readMs.ipset), readIptablesMs: round1(readMs.iptables),
  };
}

/**
 * Run in the parent: two fresh namespaces, measureFloor() in a child process (`script --floor-only`)
 * inside the first, the namespaces deleted, and the machine left to settle (the kernel frees a
 * deleted namespace's objects in the background; the agent that runs next must not pay for that).
 */
export async function runFloor(o: { script: string; services: number; endpoints: number; progress: Progress; label: string; vipBinding?: VipBinding }): Promise<FloorResult> {
  const ns = freshNamespace('kipvs-bench-floor');
  const other = freshNamespace('kipvs-bench-floor-ipset');
  let result: FloorResult;
  try {
    const text = execFileSync('ip', ['netns', 'exec', ns, process.execPath, o.script, '--floor-only',
      '--services', String(o.services), '--endpoints', String(o.endpoints), '--ipset-restore-ns', other, '--label', o.label,
      ...(o.vipBinding ? ['--vip-binding', o.vipBinding] : [])], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
    result = JSON.parse(text.trim().split('\n').pop()!) as FloorResult;
  } finally {
    deleteNamespaces([ns, other]);
  }
  await o.progress.run('floor: namespaces deleted, waiting for the machine to settle', () => settle());
  return result;
}
