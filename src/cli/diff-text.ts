// `kipvs diff` output: a Preview as text shaped like `diff -u` (a hunk per object, "-" what the kernel
// holds and would lose, "+" what it would gain, three lines of context in long chains), or as JSON.
import { previewSummary, type Preview, type PreviewChange } from '../backends/preview.js';
import type { ModelWarning } from '../model/types.js';

export interface DiffTextOptions {
  /** ANSI colours (a terminal, and NO_COLOR unset). */
  color: boolean;
  /** Lines of unchanged context kept around a change in a chain's diff. */
  context?: number;
  /** What the "+++" side is, e.g. "kipvs agent --proxy-mode ipvs, first sync". */
  target: string;
  node: string;
}

const PLURAL: Record<string, [string, string]> = {
  link: ['link', 'links'],
  sysctl: ['sysctl', 'sysctls'],
  'virtual-service': ['virtual service', 'virtual services'],
  'real-server': ['real server', 'real servers'],
  address: ['kube-ipvs0 address', 'kube-ipvs0 addresses'],
  'local-route': ['local route', 'local routes'],
  ipset: ['ipset', 'ipsets'],
  'ipset-entry': ['ipset entry', 'ipset entries'],
  'iptables-chain': ['iptables chain', 'iptables chains'],
  'iptables-jump': ['iptables jump', 'iptables jumps'],
  'nft-table': ['nftables table', 'nftables tables'],
};
const VERB = { add: 'to add', change: 'to change', remove: 'to remove' } as const;

/** The hunk a change belongs to: a virtual service with its real servers, one set's entries, the VIPs. */
function hunkOf(c: PreviewChange): string {
  switch (c.object) {
    case 'real-server':
      return `virtual-service ${c.name.split(' -> ')[0]}`;
    case 'ipset-entry':
      return `ipset ${c.name.split(' ')[0]}`;
    case 'address':
      return 'kube-ipvs0 addresses';
    case 'local-route':
      return 'local routes';
    case 'iptables-jump':
      // "inet (legacy) nat OUTPUT" → the jumps of one family and backend together (each line names its table).
      return `iptables-jump ${c.name.split(' ').slice(0, -2).join(' ')}`;
    default:
      return `${c.object} ${c.name}`;
  }
}

/** Only the lines within `context` of a change, the gaps marked as diff -u would start a new hunk. */
function trimContext(lines: string[], context: number): string[] {
  const keep = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    if (l[0] === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = 1;
  });
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (keep[i]) out.push(lines[i]!);
    else if (i === 0 || keep[i - 1]) out.push(` … ${countRun(keep, i)} unchanged`);
  }
  return out;
}

function countRun(keep: Uint8Array, from: number): number {
  let n = 0;
  while (from + n < keep.length && !keep[from + n]) n++;
  return n;
}

export function summaryLine(p: Preview): string {
  const s = previewSummary(p);
  const parts: string[] = [];
  for (const [object, counts] of Object.entries(s)) {
    for (const action of ['add', 'change', 'remove'] as const) {
      const n = counts[action];
      if (!n) continue;
      const [one, many] = PLURAL[object] ?? [object, `${object}s`];
      parts.push(`${n.toLocaleString('en-US')} ${n === 1 ? one : many} ${VERB[action]}`);
    }
  }
  const foreign = p.foreign.length ? `; ${p.foreign.length} foreign object${p.foreign.length === 1 ? '' : 's'} left alone` : '';
  return parts.length ? `${parts.join(', ')}${foreign}` : `nothing to change${foreign}`;
}

export function diffText(p: Preview, warnings: readonly ModelWarning[], o: DiffTextOptions): string {
  const paint = (code: string) => (text: string) => (o.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const red = paint('31'), green = paint('32'), cyan = paint('36'), bold = paint('1');
  const line = (l: string) => (l[0] === '-' ? red(l) : l[0] === '+' ? green(l) : l);
  const out: string[] = [];
  if (p.changes.length) {
    out.push(bold(`--- kernel of node ${o.node}`), bold(`+++ ${o.target}`));
    let hunk = '';
    for (const c of p.changes) {
      const h = hunkOf(c);
      if (h !== hunk) {
        hunk = h;
        const about = [c.service, c.object === 'real-server' ? undefined : c.note].filter(Boolean).join('; ');
        out.push(cyan(`@@ ${h} @@${about ? ` ${about}` : ''}`));
      }
      const note = c.object === 'real-server' && c.note ? `    # ${c.note}` : '';
      if (c.diff) {
        for (const l of trimContext(c.diff, o.context ?? 3)) out.push(line(l));
      } else {
        for (const l of c.before ?? []) out.push(line(`-${l}`));
        (c.after ?? []).forEach((l, i) => out.push(line(`+${l}`) + (i === 0 ? note : '')));
        if (!c.after?.length && note) out[out.length - 1] += note;
      }
    }
  }
  if (p.foreign.length) {
    out.push(cyan('@@ left alone: not kipvs\' @@'));
    for (const f of p.foreign) out.push(` ${f.object} ${f.name}: ${f.reason}`);
  }
  for (const u of p.unread) out.push(`# not read: ${u}`);
  for (const w of warnings) out.push(`# warning: ${w.object}: ${w.field}: ${w.message}`);
  out.push(`# ${summaryLine(p)}`);
  return out.join('\n') + '\n';
}

/** The JSON form: the preview, its summary, the model's warnings. */
export function diffJson(p: Preview, warnings: readonly ModelWarning[], node: string): string {
  return JSON.stringify({ node, mode: p.mode, changed: p.changes.length > 0, summary: previewSummary(p), changes: p.changes, foreign: p.foreign, unread: p.unread, warnings }, null, 2) + '\n';
}
