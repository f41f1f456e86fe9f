// What the benchmark's floor asks of the kernel, derived from the agent's own model and renderers so
// that the floor does exactly the work an initial sync must do: the IPVS objects of the desired state,
// the VIPs, the ipsets and their entries (as `ipset restore` input and as client operations), and the
// iptables rules of IPVS mode as one `iptables-restore --noflush` would write them into an empty
// namespace. Pure: the measurement is in bench-floor.ts.
import { IPSETS } from '../../src/iptables/names.js';
import { splitEntryKey, type IpsetEntryKey } from '../../src/model/ipsets.js';
import { tableBlock, quoteArg, type RuleSet, type Table } from '../../src/iptables/rules.js';
import type { SetOp, SetSpec } from '../../src/ipset/types.js';
import type { Operation, Family } from '../../src/ipvs/types.js';
import type { DesiredIpvs } from '../../src/model/types.js';

/** The kernel's maxelem for a hash set created without one (ipset's default, and what the agent creates). */
export const IPSET_DEFAULT_MAXELEM = 65536;

export interface IpsetFloorPlan {
  /** Every set the agent creates (17 per family), in the agent's order. */
  sets: SetSpec[];
  /** One add per entry. */
  ops: SetOp[];
  /** Sets whose entries exceed the default maxelem: the floor raises their maxelem (the agent does not; see the report). */
  raised: { set: string; entries: number }[];
}

/**
 * The sets and entries of IPVS mode for `families`, named as the agent's IpsetSync names them. A
 * hash set with more entries than the default maxelem gets a maxelem that fits them, because the
 * floor is the work a correct sync must do; entries of a family not programmed are left out, as
 * the agent leaves them out.
 */
export function ipsetFloorPlan(entries: Iterable<IpsetEntryKey>, families: readonly Family[]): IpsetFloorPlan {
  const nameOf = new Map<string, string>();
  const specs = new Map<string, SetSpec>();
  for (const family of families) {
    for (const info of IPSETS) {
      const name = info.name(family);
      nameOf.set(`${family}|${info.name('inet')}`, name);
      specs.set(name, info.type === 'bitmap:port'
        ? { name, type: info.type, family: 'inet', range: { from: 0, to: 65535 } }
        : { name, type: info.type, family });
    }
  }
  const ops: SetOp[] = [];
  const count = new Map<string, number>();
  for (const key of entries) {
    const { family, role, entry } = splitEntryKey(key);
    const set = nameOf.get(`${family}|${role}`);
    if (set === undefined) continue;
    ops.push({ op: 'add', set, entry });
    count.set(set, (count.get(set) ?? 0) + 1);
  }
  const raised: IpsetFloorPlan['raised'] = [];
  for (const [set, n] of count) {
    const spec = specs.get(set)!;
    if (spec.type !== 'bitmap:port' && n > IPSET_DEFAULT_MAXELEM) {
      spec.maxElem = n;
      raised.push({ set, entries: n });
    }
  }
  return { sets: [...specs.values()], ops, raised };
}

/** `ipset restore` input for a plan: the create lines, then one add line per entry. */
export function ipsetRestoreInput(plan: IpsetFloorPlan): string {
  const lines: string[] = [];
  for (const s of plan.sets) {
    if (s.type === 'bitmap:port') lines.push(`create ${s.name} bitmap:port range ${s.range!.from}-${s.range!.to}`);
    else lines.push(`create ${s.name} ${s.type} family ${s.family}${s.maxElem !== undefined ? ` maxelem ${s.maxElem}` : ''}`);
  }
  for (const op of plan.ops) lines.push(`${op.op} ${op.set} ${op.entry}`);
  return lines.join('\n') + '\n';
}

/** The IPVS operations of a first sync on an empty table: each virtual service, then its real servers (as plan.ts orders them). */
export function ipvsFloorOperations(desired: DesiredIpvs): Operation[] {
  const ops: Operation[] = [];
  for (const want of desired.services.values()) {
    ops.push({ op: 'add-service', service: want.service });
    for (const server of want.servers.values()) ops.push({ op: 'add-server', service: want.service, server });
  }
  return ops;
}

const TABLES: readonly Table[] = ['nat', 'filter'];

/**
 * The one `iptables-restore --noflush` input the agent writes into a namespace without kipvs rules:
 * per table the kipvs chains and their rules, then each jump from a built-in chain inserted at the
 * top (Iptables.apply() when nothing of ours is there yet).
 */
export function initialRestoreInput(rs: RuleSet): string {
  return TABLES.map((table) => {
    const jumps = rs.jumps.filter((j) => j.table === table).map((j) => `-I ${j.chain} 1 ${j.args.map(quoteArg).join(' ')}`);
    return tableBlock(table, rs[table].chains, [...rs[table].rules, ...jumps]);
  }).join('');
}

/** The floor's parts, each the kernel work of one kind done the fastest way measured (ms). */
export interface FloorParts {
  ipvsMs: number;
  vipMs: number;
  /** `ipset restore` of the same sets and entries, in its own fresh namespace. */
  ipsetRestoreMs: number;
  /** kipvs' batched ipset client. */
  ipsetClientMs: number;
  /** iptables-restore, summed over the families the agent programs. */
  iptablesMs: number;
}

/** The faster of the two ipset ways, and the sum of the four parts. */
export function floorTotals(p: FloorParts): { ipsetMs: number; ipsetWay: 'ipset restore' | 'client'; sumMs: number } {
  const client = p.ipsetClientMs <= p.ipsetRestoreMs;
  const ipsetMs = client ? p.ipsetClientMs : p.ipsetRestoreMs;
  return { ipsetMs, ipsetWay: client ? 'client' : 'ipset restore', sumMs: round1(p.ipvsMs + p.vipMs + ipsetMs + p.iptablesMs) };
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
