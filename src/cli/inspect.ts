// `kipvs list` and `kipvs explain <ip[:port]>`: the kernel's IPVS table, or in iptables mode the nat and
// filter rules iptables-save shows, joined with the agent's state from its unix socket. Text for people,
// `--output json` for tools.
import { networkInterfaces } from 'node:os';
import { IpvsClient, IpvsUnavailableError } from '../ipvs/client.js';
import { fetchState, type AgentState } from '../agent/state.js';
import { joinView, formatList, formatExplain, parseTarget, type KernelEntry, type VirtualServiceView } from '../inspect/view.js';
import { execRun } from '../iptables/iptables.js';
import { binaries, detectBackend, type XtablesBackend } from '../backends/iptables/restore.js';
import type { Family } from '../netlink/address.js';
import {
  parseIptablesNat, joinIptablesView, formatIptablesList, formatIptablesExplain, selectIptablesViews, type IptablesTables, type IptablesView,
} from '../inspect/iptables-view.js';

const DEFAULT_SOCKET = '/run/kipvs/state.sock';

interface Options {
  socket: string;
  output: 'text' | 'json';
  protocol?: string | undefined;
  rest: string[];
}

function parse(argv: string[], command: string): Options | string {
  const o: Options = { socket: process.env.KIPVS_STATE_SOCKET ?? DEFAULT_SOCKET, output: 'text', rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--state-socket') o.socket = value() ?? '';
    else if (flag === '-o' || flag === '--output') {
      const v = value();
      if (v !== 'json' && v !== 'text') return `kipvs ${command}: --output must be text or json, not "${v ?? ''}"`;
      o.output = v;
    } else if (flag === '--protocol' || flag === '-p') o.protocol = (value() ?? '').toLowerCase();
    else if (flag.startsWith('-') && flag !== '-') return `kipvs ${command}: unknown option "${a}"`;
    else o.rest.push(a);
  }
  return o;
}

type Gathered =
  | { mode: 'ipvs'; kernel: KernelEntry[]; state: AgentState | undefined }
  | { mode: 'iptables'; backend: XtablesBackend; views: IptablesView[]; state: AgentState | undefined };

/**
 * What the kernel holds and the agent's state. iptables mode when the agent says so, or when no agent
 * answers and the kernel has no IPVS (then kube-proxy's iptables rules are what can serve a Service).
 */
async function gather(socket: string, families: Family[]): Promise<Gathered> {
  const state = await fetchState(socket);
  if (state?.mode !== 'iptables') {
    let ipvs: IpvsClient | undefined;
    try {
      ipvs = IpvsClient.open();
    } catch (err) {
      if (state || !(err instanceof IpvsUnavailableError)) throw err;
    }
    if (ipvs) {
      try {
        return { mode: 'ipvs', kernel: ipvs.dump({ stats: false }), state };
      } finally {
        ipvs.close();
      }
    }
  }
  const backend = state?.iptablesBackend ?? detectBackend().backend;
  return { mode: 'iptables', backend, views: joinIptablesView(readIptables(backend, families), state), state };
}

/** Each family's nat and filter tables through iptables-save; a family whose save fails is left out. */
function readIptables(backend: XtablesBackend, families: Family[]): IptablesTables[] {
  const out: IptablesTables[] = [];
  const errors: string[] = [];
  for (const family of families) {
    const { save } = binaries(backend, family);
    let nat: string;
    try {
      nat = execRun(save, ['-t', 'nat']);
    } catch (err) {
      errors.push(`${save} -t nat: ${(err as Error).message.trim()}`);
      continue;
    }
    let filter: string | undefined;
    try {
      filter = execRun(save, ['-t', 'filter']);
    } catch (err) {
      process.stderr.write(`# ${save} -t filter failed (${(err as Error).message.trim()}): services without endpoints not shown\n`);
    }
    out.push(parseIptablesNat(nat, filter, family));
  }
  if (!out.length) throw new Error(`cannot read the iptables rules: ${errors.join('; ')}`);
  for (const e of errors) process.stderr.write(`# skipped: ${e}\n`);
  return out;
}

/** Every address on this node's interfaces: the ones a NodePort answers on. */
function nodeAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
}

const NO_STATE = '# no agent state (is kipvs agent running? see --state-socket): kernel view only\n';

export async function list(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs list [--output text|json] [--state-socket PATH]\n\n' +
      'IPVS mode: every IPVS virtual service with the Service port it came from, and every real server with its pod, node, zone and condition (ready, serving, terminating; weight 0 = draining).\n' +
      'iptables mode (the agent runs with --proxy-mode iptables, or no agent answers and the kernel has no IPVS): every frontend of kube-proxy\'s rules (cluster, external, load balancer IPs, node ports; both families), the chains it passes (KUBE-SVC/EXT/FW/SVL) and each endpoint\'s KUBE-SEP chain, probability and share of new connections, with drift from the agent\'s choice.\n');
    return 0;
  }
  const o = parse(argv, 'list');
  if (typeof o === 'string') return fail(o);
  const g = await gather(o.socket, ['inet', 'inet6']);
  const { state } = g;
  const agent = state ? { node: state.node, lastSync: state.lastSync } : null;
  if (g.mode === 'iptables') {
    const head = (state ? '' : NO_STATE) + `# iptables mode (${g.backend}): ${g.views.length} frontends\n`;
    process.stdout.write(o.output === 'json' ? JSON.stringify({ agent, mode: 'iptables', backend: g.backend, frontends: g.views }, null, 2) + '\n' : head + formatIptablesList(g.views));
    return 0;
  }
  const views = joinView(g.kernel, state);
  process.stdout.write(o.output === 'json' ? JSON.stringify({ agent, virtualServices: views }, null, 2) + '\n' : formatList(views, !!state));
  return 0;
}

export async function explain(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs explain <ip[:port]> [--protocol tcp|udp|sctp] [--output text|json] [--state-socket PATH]\n\n' +
      'What serves this address and why. IPVS mode: the Service, the traffic policy, topology hints, each endpoint used or not and the reason.\n' +
      'iptables mode (the agent runs with --proxy-mode iptables, or no agent answers and the kernel has no IPVS): the Service port, the chains traffic passes by source (pods, this node, source ranges), each endpoint\'s DNAT, probability and share of new connections, affinity, masquerade, and drift from the agent\'s choice.\n' +
      'Exits 1 when nothing serves the address.\n');
    return 0;
  }
  const o = parse(argv, 'explain');
  if (typeof o === 'string') return fail(o);
  if (o.rest.length !== 1) return fail('kipvs explain: give one address, as ip:port, [ipv6]:port or ip');
  const target = parseTarget(o.rest[0]!);
  if (!target) return fail(`kipvs explain: "${o.rest[0]}" is not an address (want ip:port, [ipv6]:port or ip)`);
  if (o.protocol && !['tcp', 'udp', 'sctp'].includes(o.protocol)) return fail(`kipvs explain: unknown protocol "${o.protocol}"`);
  const g = await gather(o.socket, [target.address.includes(':') ? 'inet6' : 'inet']);
  const { state } = g;
  if (g.mode === 'iptables') {
    const views = selectIptablesViews(g.views, target, { ...(o.protocol ? { protocol: o.protocol } : {}), nodeAddresses: nodeAddresses() });
    if (o.output === 'json') process.stdout.write(JSON.stringify({ target: o.rest[0], agent: !!state, mode: 'iptables', backend: g.backend, frontends: views }, null, 2) + '\n');
    else process.stdout.write((state ? '' : NO_STATE) + formatIptablesExplain(o.rest[0]!, views));
    return views.length ? 0 : 1;
  }
  const canon = (a: string) => a.toLowerCase();
  const views: VirtualServiceView[] = joinView(g.kernel, state).filter((v) =>
    canon(v.address) === canon(target.address) && (target.port === undefined || v.port === target.port) && (!o.protocol || v.protocol === o.protocol));
  if (o.output === 'json') process.stdout.write(JSON.stringify({ target: o.rest[0], agent: !!state, virtualServices: views }, null, 2) + '\n');
  else process.stdout.write((state ? '' : '# no agent state (is kipvs agent running?): kernel view only\n') + formatExplain(o.rest[0]!, views, state));
  return views.length ? 0 : 1;
}

function fail(msg: string): number {
  process.stderr.write(msg + '\n');
  return 2;
}
