// `kipvs iptables-backend [--select] [--backend legacy|nft]`: which iptables backend (legacy or nft) this
// node uses, detected as kube-proxy's iptables-wrapper does, and with --select point Debian's `iptables`
// and `ip6tables` alternatives at it (the image's entry point runs this before the agent).
import { execFileSync } from 'node:child_process';
import { detectBackend } from '../backends/iptables/restore.js';

const USAGE = `Usage: kipvs iptables-backend [--select] [--backend legacy|nft]

Prints the iptables backend this node uses and why. --select also points the iptables and ip6tables
commands at it (update-alternatives); --backend skips the detection.
`;

export function main(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let forced: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--select') continue;
    if (a === '--backend') forced = argv[++i] ?? '';
    else if (a.startsWith('--backend=')) forced = a.slice('--backend='.length);
    else {
      process.stderr.write(`kipvs iptables-backend: unknown option "${a}"\n\n${USAGE}`);
      return 2;
    }
  }
  if (forced !== undefined && forced !== 'legacy' && forced !== 'nft') {
    process.stderr.write(`kipvs iptables-backend: --backend takes legacy or nft, not "${forced}"\n`);
    return 2;
  }
  const { backend, reason } = forced ? { backend: forced, reason: 'given by --backend' } : detectBackend();
  process.stdout.write(`iptables backend: ${backend} (${reason})\n`);
  if (!argv.includes('--select')) return 0;
  for (const cmd of ['iptables', 'ip6tables']) {
    try {
      execFileSync('update-alternatives', ['--set', cmd, `/usr/sbin/${cmd}-${backend}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      process.stderr.write(`kipvs iptables-backend: cannot point ${cmd} at ${cmd}-${backend}: ${e.stderr?.toString().trim() || e.message}\n`);
      return 1;
    }
  }
  process.stdout.write(`iptables and ip6tables now run ${backend}\n`);
  return 0;
}
