// A fake iptables for host tests of the appliers: iptables-save prints a state, iptables-restore records
// its input; and the text iptables-save would print for a rule set.
import type { RuleSet } from '../../src/iptables/rules.js';

/** iptables-save prints `state.save`; iptables-restore records its input and, if told, makes `next` the new state. */
export function fakeRun(state: { save: string; restores: string[]; calls: string[]; fail?: string; next?: string }) {
  return (cmd: string, args: string[], input?: string): string => {
    state.calls.push(`${cmd} ${args.join(' ')}`.trim());
    if (cmd.endsWith('-save')) return state.save;
    if (state.fail) throw Object.assign(new Error('exit 1'), { stderr: state.fail });
    state.restores.push(input ?? '');
    if (state.next !== undefined) state.save = state.next;
    return '';
  };
}

/**
 * What iptables-save would print after a restore of `rs` into empty tables: rules, then jumps. `jumpComments`
 * (by target chain) replaces the jumps' comments, as another writer of the same jumps would have them.
 */
export function savedForm(rs: RuleSet, jumpComments: Record<string, string> = {}): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const c of table === 'nat' ? ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] : ['INPUT', 'FORWARD', 'OUTPUT']) out.push(`:${c} ACCEPT [0:0]`);
    for (const c of rs[table].chains) out.push(`:${c} - [0:0]`);
    for (const j of [...rs.jumps].reverse()) if (j.table === table) out.push(`-A ${j.chain} -m comment --comment "${jumpComments[j.target] ?? j.comment}" -j ${j.target}`);
    for (const r of rs[table].rules) out.push(r.replace('--or-mark 0x4000', '--set-xmark 0x4000/0x4000').replace('--xor-mark 0x4000', '--set-xmark 0x4000/0x0'));
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}
