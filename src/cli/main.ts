// kipvs' command dispatcher. Each command's module is loaded only when that command runs, so that
// "kipvsadm --version" does not pay for the agent, client-node or pino.
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main: (argv: string[]) => Promise<number> | number }> }> = {
  agent: { summary: 'run the node agent (the IPVS service proxy)', load: () => import('./agent.js') },
  list: { summary: 'virtual services with the Services and pods behind them', load: async () => ({ main: (await import('./inspect.js')).list }) },
  explain: { summary: 'what serves an address and why', load: async () => ({ main: (await import('./inspect.js')).explain }) },
  diff: { summary: 'what the agent would change on its first sync, changing nothing', load: () => import('./diff.js') },
  cleanup: { summary: 'remove everything kipvs programmed (virtual services, kube-ipvs0)', load: () => import('./cleanup.js') },
  ipvsadm: { summary: 'ipvsadm-compatible listing of the kernel IPVS table', load: () => import('./ipvsadm/main.js') },
  'iptables-backend': { summary: 'the iptables backend (legacy or nft) this node uses; --select points iptables at it', load: () => import('./iptables-backend.js') },
  version: { summary: 'version, git commit, Node and kernel (also --version on any command)', load: () => import('./version.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`);
  return `Usage: kipvs <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "kipvs <command> --help" for a command's options.\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  // --version on any command but ipvsadm, whose -v/--version text stays ipvsadm's own (byte for byte).
  if (name === '--version' || (name !== 'ipvsadm' && rest.includes('--version'))) return (await import('./version.js')).main([]);
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`kipvs: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await cmd.load()).main(rest);
}

run(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`kipvs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
