// Comparing kipvs' ipvsadm with the real one: the same arguments through both, the same output, error
// text and exit status (test/sandbox/ipvsadm-cli.test.ts, no-ipvs.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { run } from '../../src/cli/ipvsadm/main.js';

export interface Result { stdout: string; stderr: string; status: number }

export function ipvsadm(args: string[], input?: string): Result {
  const r = spawnSync('ipvsadm', args, { encoding: 'utf8', input });
  // Killed by a signal (status null): say which, in stderr, so a comparison shows it.
  return { stdout: r.stdout, stderr: r.signal ? `${r.stderr}[killed by ${r.signal}]` : r.stderr, status: r.status ?? -1 };
}

export async function kipvs(args: string[], connFile?: string): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { out: (s) => { stdout += s; }, err: (s) => { stderr += s; }, prog: 'ipvsadm', connFile });
  return { stdout, stderr, status };
}

/**
 * Both tools, same arguments, same kernel state: identical output. Values that move by themselves
 * (connection expiry seconds, decaying rate estimates) may differ between two reads, so `retries`
 * reads again (default 1: one ipvsadm listing once came out short under load, unexplained; a first
 * read that differs is printed as a diagnostic line); a real difference persists and fails.
 */
export async function same(args: string[], opts: { retries?: number; nonEmpty?: RegExp } = {}): Promise<Result> {
  let last: { k: Result; r: Result } | null = null;
  for (let i = 0; i <= (opts.retries ?? 1); i++) {
    const k = await kipvs(args);
    const r = ipvsadm(args);
    if (k.stdout === r.stdout && k.stderr === r.stderr && k.status === r.status) {
      if (opts.nonEmpty) assert.match(r.stdout, opts.nonEmpty, `ipvsadm ${args.join(' ')} has the content under test`);
      if (last && opts.retries === undefined) {
        console.log(`# ipvsadm ${args.join(' ')}: the first read differed, the second agreed (ipvsadm exit ${last.r.status}, ${last.r.stdout.length} vs kipvs ${last.k.stdout.length} bytes of stdout, ipvsadm stderr ${JSON.stringify(last.r.stderr)})`);
      }
      return r;
    }
    last = { k, r };
  }
  const { k, r } = last!;
  // Both sides' status and stderr in the message: a short stdout alone does not say why (an ipvsadm
  // listing once came out short in a run with no stderr printed).
  const why = `ipvsadm ${args.join(' ')}: ipvsadm exit ${r.status} stderr ${JSON.stringify(r.stderr)}; kipvs exit ${k.status} stderr ${JSON.stringify(k.stderr)}`;
  assert.equal(k.stdout, r.stdout, `stdout of ${why}`);
  assert.equal(k.stderr, r.stderr, `stderr of ipvsadm ${args.join(' ')}`);
  assert.equal(k.status, r.status, `exit status of ipvsadm ${args.join(' ')}`);
  return r;
}
