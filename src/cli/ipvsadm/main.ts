// `kipvs ipvsadm …` / `kipvsadm …`: ipvsadm 1.31's inspection commands with its output, exit codes
// and messages, plus `--output json|wide`. -h and -v load nothing but the texts; everything else loads
// the IPVS client (koffi, libnl) only once it is known to be needed.
import { firstOption } from './options.js';
import { usage, VERSION_LINE, KIPVS_EXTENSIONS } from './text.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** The program name in messages (ipvsadm prints its argv[0]). */
  prog: string;
  posixlyCorrect?: boolean;
  /** Where -c reads the connection table (default /proc/net/ip_vs_conn; tests pass a snapshot). */
  connFile?: string;
}

export type OutputMode = 'text' | 'json' | 'wide';

/** Take kipvs' own `--output MODE` / `--output=MODE` out of the argument list (before any "--"). */
export function extractOutput(argv: readonly string[]): { argv: string[]; mode: OutputMode } | { error: string } {
  const rest: string[] = [];
  let mode: OutputMode = 'text';
  let done = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (done || !(a === '--output' || a.startsWith('--output='))) {
      if (a === '--') done = true;
      rest.push(a);
      continue;
    }
    const v = a === '--output' ? argv[++i] : a.slice('--output='.length);
    if (v !== 'json' && v !== 'wide' && v !== 'text') return { error: `--output takes json, wide or text${v === undefined ? '' : `, not "${v}"`}` };
    mode = v;
  }
  return { argv: rest, mode };
}

/** Run with explicit output sinks; returns the exit status. */
export async function run(argvIn: readonly string[], io: Io): Promise<number> {
  const ex = extractOutput(argvIn);
  if ('error' in ex) {
    io.err(`${io.prog}: ${ex.error}\n`);
    return 2;
  }
  const first = ex.argv.length ? firstOption(ex.argv, io.posixlyCorrect) : null;
  if (first === 'h') {
    io.out(usage(io.prog));
    // Run as ipvsadm (the name scripts compare against), the text stays ipvsadm's, byte for byte.
    if (io.prog !== 'ipvsadm') io.out(KIPVS_EXTENSIONS);
    return 0;
  }
  if (first === 'v') {
    io.out(VERSION_LINE);
    return 0;
  }
  const { execute } = await import('./execute.js');
  return execute(ex.argv, ex.mode, io);
}

function progName(): string {
  const script = process.argv[1] ?? '';
  const base = script.slice(script.lastIndexOf('/') + 1).replace(/\.js$/, '');
  return base === 'kipvs' ? 'kipvs ipvsadm' : base || 'kipvsadm';
}

/** The CLI entry point (src/cli/main.ts dispatches here). */
export async function main(argv: string[]): Promise<number> {
  const chunks: string[] = [];
  const code = await run(argv, {
    out: (s) => { chunks.push(s); },
    err: (s) => { process.stderr.write(s); },
    prog: progName(),
    posixlyCorrect: Boolean(process.env.POSIXLY_CORRECT || process.env.POSIX_ME_HARDER),
  });
  const text = chunks.join('');
  if (text) {
    // A closed pipe (| head) ends the output quietly, as SIGPIPE ends ipvsadm.
    process.stdout.on('error', () => {});
    await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  }
  return code;
}
