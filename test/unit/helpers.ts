// Small helpers shared by host tests.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** struct nlattr + payload, padded to 4 (NLA_ALIGN): attributes built by hand for the decoders' tests. */
export function nla(type: number, payload: Buffer | number[]): Buffer {
  const p = Buffer.from(payload as Buffer);
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + p.length, 0);
  head.writeUInt16LE(type, 2);
  return Buffer.concat([head, p, Buffer.alloc((4 - (p.length % 4)) % 4)]);
}

/** Polls `cond` every 10 ms; throws naming `what` after `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file below `dir` (recursively) whose path `keep` accepts. */
export function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p, keep) : keep(p) ? [p] : [];
  });
}
