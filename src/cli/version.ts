// `kipvs version` (and `--version` on any command): one line, or JSON with --output json.
import { buildInfo, versionLine } from '../version/version.js';

export function main(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('Usage: kipvs version [--output json]\n\nPrints kipvs\' version, the git commit it was built from, Node\'s version and the kernel release.\n');
    return 0;
  }
  const json = argv.includes('--output=json') || (argv.includes('--output') && argv[argv.indexOf('--output') + 1] === 'json');
  process.stdout.write(json ? `${JSON.stringify(buildInfo())}\n` : `${versionLine()}\n`);
  return 0;
}
