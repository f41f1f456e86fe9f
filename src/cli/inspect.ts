// `kipvs list` and `kipvs explain <ip[:port]>`: the kernel's IPVS table joined with the agent's state
// from its unix socket. Text for people, `--output json` for tools.
import { IpvsClient } from '../ipvs/client.js';
import { fetchState, type AgentState } from '../agent/state.js';
import { joinView, formatList, formatExplain, parseTarget, type KernelEntry, type VirtualServiceView } from '../inspect/view.js';

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

async function gather(socket: string): Promise<{ kernel: KernelEntry[]; state: AgentState | undefined }> {
  const ipvs = IpvsClient.open();
  try {
    const kernel = ipvs.dump({ stats: false });
    const state = await fetchState(socket);
    return { kernel, state };
  } finally {
    ipvs.close();
  }
}

export async function list(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs list [--output text|json] [--state-socket PATH]\n\nEvery IPVS virtual service with the Service port it came from, and every real server with its pod, node, zone and condition (ready, serving, terminating; weight 0 = draining).\n');
    return 0;
  }
  const o = parse(argv, 'list');
  if (typeof o === 'string') return fail(o);
  const { kernel, state } = await gather(o.socket);
  const views = joinView(kernel, state);
  process.stdout.write(o.output === 'json' ? JSON.stringify({ agent: state ? { node: state.node, lastSync: state.lastSync } : null, virtualServices: views }, null, 2) + '\n' : formatList(views, !!state));
  return 0;
}

export async function explain(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs explain <ip[:port]> [--protocol tcp|udp|sctp] [--output text|json] [--state-socket PATH]\n\nWhat serves this address and why: the Service, the traffic policy, topology hints, each endpoint used or not and the reason.\n');
    return 0;
  }
  const o = parse(argv, 'explain');
  if (typeof o === 'string') return fail(o);
  if (o.rest.length !== 1) return fail('kipvs explain: give one address, as ip:port, [ipv6]:port or ip');
  const target = parseTarget(o.rest[0]!);
  if (!target) return fail(`kipvs explain: "${o.rest[0]}" is not an address (want ip:port, [ipv6]:port or ip)`);
  if (o.protocol && !['tcp', 'udp', 'sctp'].includes(o.protocol)) return fail(`kipvs explain: unknown protocol "${o.protocol}"`);
  const { kernel, state } = await gather(o.socket);
  const canon = (a: string) => a.toLowerCase();
  const views: VirtualServiceView[] = joinView(kernel, state).filter((v) =>
    canon(v.address) === canon(target.address) && (target.port === undefined || v.port === target.port) && (!o.protocol || v.protocol === o.protocol));
  if (o.output === 'json') process.stdout.write(JSON.stringify({ target: o.rest[0], agent: !!state, virtualServices: views }, null, 2) + '\n');
  else process.stdout.write((state ? '' : '# no agent state (is kipvs agent running?): kernel view only\n') + formatExplain(o.rest[0]!, views, state));
  return views.length ? 0 : 1;
}

function fail(msg: string): number {
  process.stderr.write(msg + '\n');
  return 2;
}
