// `kipvs diff`: what `kipvs agent` with the same flags would change on its first sync, without changing
// anything. Takes the agent's flags (--config, --manifests or --kubeconfig, --proxy-mode, …) plus
// --output text|json and --color auto|always|never. Exits 0 when nothing would change, 1 when
// something would (as diff does), 2 on an error.
import { loadConfig, ConfigError, ConfigErrors } from '../config/index.js';
import { createLogger } from './log.js';
import { makeSource } from './agent.js';
import { diffJson, diffText } from './diff-text.js';

const HELP = `Usage: kipvs diff [agent flags] [--output text|json] [--color auto|always|never] [--timeout SECONDS]

Show what "kipvs agent" with the same flags would change on this node at its first sync, and change
nothing: sysctls, kube-ipvs0 and its addresses, IPVS virtual and real servers, ipsets and their
entries, iptables chains and jumps (IPVS mode); or the chains of iptables mode; and, in either mode,
what the other mode left that the agent would remove. Objects kipvs would leave alone are listed.

Agent flags: --config FILE, --manifests DIR or --kubeconfig FILE, --proxy-mode ipvs|iptables,
--hostname-override NAME, and the others of "kipvs agent --help".

Exit status: 0 nothing would change, 1 something would, 2 an error.
`;

/** Take `--name value` or `--name=value` out of argv (the rest goes to the agent's flag parser). */
function takeOption(argv: string[], name: string, allowed: readonly string[] | null, dflt: string): string {
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return dflt;
  const joined = argv[i]!.startsWith(`${name}=`);
  const value = joined ? argv[i]!.slice(name.length + 1) : argv[i + 1];
  if (value === undefined || (allowed && !allowed.includes(value))) {
    throw new ConfigError(name, '', `want ${allowed ? allowed.join(', ') : 'a value'}${value === undefined ? '' : `, not "${value}"`}`);
  }
  argv.splice(i, joined ? 1 : 2);
  return value;
}

/** Where the diff and its errors go: the process' stdout and stderr, or a test's buffers. */
export interface DiffOutput {
  out: { write(text: string): unknown; isTTY?: boolean };
  err: { write(text: string): unknown };
}

export async function main(argvIn: string[], io: DiffOutput = { out: process.stdout, err: process.stderr }): Promise<number> {
  if (argvIn.includes('-h') || argvIn.includes('--help')) {
    io.out.write(HELP);
    return 0;
  }
  const argv = [...argvIn];
  let output: string, color: string, timeoutS: number;
  let config;
  try {
    output = takeOption(argv, '--output', ['text', 'json'], 'text');
    color = takeOption(argv, '--color', ['auto', 'always', 'never'], 'auto');
    timeoutS = Number(takeOption(argv, '--timeout', null, '60'));
    if (!(timeoutS > 0)) throw new ConfigError('--timeout', '', 'want a number of seconds above 0');
    config = await loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const e of err instanceof ConfigErrors ? err.errors : [err]) io.err.write(`kipvs diff: ${e.message}\n`);
      return 2;
    }
    throw err;
  }
  // Logs go to stderr, quiet unless asked: stdout is the diff.
  const log = createLogger(process.env.KIPVS_LOG_LEVEL ?? 'warn');
  const { previewFirstSync } = await import('../agent/diff.js');
  let r;
  try {
    r = await previewFirstSync({
      mode: config.mode, nodeName: config.nodeName, scheduler: config.ipvs.scheduler, strictARP: config.ipvs.strictARP,
      excludeCIDRs: config.ipvs.excludeCIDRs, vipBinding: config.vipBinding, nodePortAddresses: config.nodePortAddresses,
      masqueradeAll: config.masqueradeAll, masqueradeBit: config.masqueradeBit, clusterCIDRs: config.clusterCIDR,
      detectLocal: { mode: config.detectLocalMode, ...config.detectLocal },
      ...(config.iptables.backend ? { iptablesBackend: config.iptables.backend } : {}),
      conntrack: config.conntrack, localhostNodePorts: config.iptables.localhostNodePorts,
      source: await makeSource(config, log), log, timeoutMs: timeoutS * 1000,
    });
  } catch (err) {
    io.err.write(`kipvs diff: ${(err as Error).message}\n`);
    return 2;
  }
  if (output === 'json') {
    io.out.write(diffJson(r.preview, r.warnings, config.nodeName));
  } else {
    const tty = color === 'always' || (color === 'auto' && io.out.isTTY === true && !process.env.NO_COLOR);
    io.out.write(diffText(r.preview, r.warnings, { color: tty, node: config.nodeName, target: `kipvs agent --proxy-mode ${config.mode}, first sync (${r.services} Services)` }));
  }
  return r.preview.changes.length > 0 ? 1 : 0;
}
