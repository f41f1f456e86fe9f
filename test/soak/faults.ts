// What goes wrong during the soak, one thing at a time: the agent killed and restarted, the fake API
// server misbehaving, and someone editing the kernel by hand. Each step says what it did and, for a
// hand edit, how long the agent took to put it back (polled with the real tools).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FakeApiServer } from '../fake-apiserver/server.js';
import type { AgentProcess } from './processes.js';
import { readIpvs, readVips } from './kernel.js';
import type { VipBinding } from '../../src/link/route-codec.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = async (cmd: string, args: string[]) => run(cmd, args).then(() => true, () => false);

export interface HandEdit {
  what: string;
  at: number;
  /** ms from the edit to the kernel showing it repaired; undefined: not repaired within the bound. */
  repairMs?: number;
  /**
   * The virtual service whose traffic the edit can break (its failures are counted apart), or
   * EVERY_SERVICE for an edit that can break any Service's: the nat jump to KUBE-POSTROUTING, which
   * masquerades every Service's traffic.
   */
  vs: string;
}

export const EVERY_SERVICE = '*';

/** Whether a failure of a request to `vs` sent at `t` falls where a hand edit broke its path: from just before the edit until 3 s after its repair. */
export function brokenByHandEdit(handEdits: readonly HandEdit[], vs: string, t: number, repairBoundMs: number): boolean {
  return handEdits.some((h) => (h.vs === vs || h.vs === EVERY_SERVICE) && t >= h.at - 500 && t <= h.at + (h.repairMs ?? repairBoundMs) + 3000);
}

export interface Restart { signal: 'SIGKILL' | 'SIGTERM'; at: number; exitCode: number | null; stopMs: number; startMs: number }

export interface FaultLog {
  handEdits: HandEdit[];
  restarts: Restart[];
  apiFaults: { what: string; at: number; ms: number }[];
}

export interface FaultContext {
  api: FakeApiServer;
  agent: AgentProcess;
  /** The virtual service (ClusterIP, TCP) the hand edits pick on, "10.96.100.3:80", and one of its real servers now. */
  victim: () => { vip: string; port: number; server: string };
  /** A nat-table jump of the agent's, as iptables-save prints it ("-A POSTROUTING ... -j KUBE-POSTROUTING"). */
  natJump: string;
  /** The agent's --vip-binding: how the VIP hand edit deletes a VIP. */
  vipBinding: VipBinding;
  faultMs: number;
  awayMs: number;
  repairBoundMs: number;
  log: FaultLog;
  /** What is being done now, for the change-to-kernel bookkeeping and the progress line. */
  setPhase: (phase: string) => void;
}

/** Polls `restored` every 100 ms until it holds or the bound passes; returns ms since `at`. */
async function repairTime(at: number, boundMs: number, restored: () => Promise<boolean>): Promise<number | undefined> {
  while (Date.now() - at < boundMs) {
    if (await restored()) return Date.now() - at;
    await sleep(100);
  }
  return undefined;
}

async function handEdit(c: FaultContext, what: string, edit: () => Promise<unknown>, restored: () => Promise<boolean>, scope: 'victim' | 'every' = 'victim'): Promise<void> {
  const v = c.victim();
  const at = Date.now();
  await edit();
  const repairMs = await repairTime(at, c.repairBoundMs, restored);
  c.log.handEdits.push({ what, at, vs: scope === 'every' ? EVERY_SERVICE : `tcp/${v.vip}:${v.port}`, ...(repairMs !== undefined ? { repairMs } : {}) });
}

export function faultSteps(c: FaultContext): { name: string; run: () => Promise<void> }[] {
  const api = async (what: string, f: () => Promise<unknown>) => {
    const at = Date.now();
    await f();
    c.log.apiFaults.push({ what, at, ms: Date.now() - at });
  };
  const restart = async (signal: 'SIGKILL' | 'SIGTERM') => {
    const at = Date.now();
    const stopped = await c.agent.stop(signal);
    await sleep(1000);
    const startMs = await c.agent.start();
    c.log.restarts.push({ signal, at, exitCode: stopped.code, stopMs: stopped.ms, startMs });
  };
  return [
    { name: 'hand edit: delete a real server', run: async () => {
      const v = c.victim();
      await handEdit(c, 'real server deleted (ipvsadm -d)',
        () => run('ipvsadm', ['-d', '-t', `${v.vip}:${v.port}`, '-r', v.server]),
        async () => (await readIpvs()).get(`tcp/${v.vip}:${v.port}`)?.servers.get(v.server) === 1);
    } },
    { name: 'api: open watches dropped', run: () => api('watches dropped', async () => { c.api.closeWatches(); await sleep(1000); }) },
    { name: 'agent: SIGKILL and restart', run: () => restart('SIGKILL') },
    { name: 'hand edit: delete a VIP', run: async () => {
      const v = c.victim();
      const [what, args] = c.vipBinding === 'local-route'
        ? ['VIP deleted (ip route del local, table local, proto 107)', ['route', 'del', 'local', `${v.vip}/32`, 'dev', 'lo', 'table', 'local', 'proto', '107']]
        : ['VIP deleted from kube-ipvs0 (ip addr del)', ['addr', 'del', `${v.vip}/32`, 'dev', 'kube-ipvs0']];
      await handEdit(c, what, () => run('ip', args), async () => (await readVips(c.vipBinding)).has(v.vip));
    } },
    { name: 'api: 410 to the next watches', run: () => api('410 Expired to the next 3 watches', async () => { c.api.expireNextWatches(3); c.api.closeWatches(); await sleep(2000); }) },
    { name: 'api: 500s', run: () => api(`500 to every request for ${c.faultMs} ms`, async () => { c.api.closeWatches(); c.api.fail500For(c.faultMs); await sleep(c.faultMs); }) },
    { name: 'agent: SIGTERM and restart', run: () => restart('SIGTERM') },
    { name: 'hand edit: delete an ipset entry', run: async () => {
      const v = c.victim();
      const entry = `${v.vip},tcp:${v.port}`;
      await handEdit(c, 'ipset entry deleted (ipset del KUBE-CLUSTER-IP)',
        () => run('ipset', ['del', 'KUBE-CLUSTER-IP', entry]),
        () => ok('ipset', ['test', 'KUBE-CLUSTER-IP', entry]));
    } },
    { name: 'api: responses stalled', run: () => api(`responses and watch events stalled for ${c.faultMs} ms`, async () => { c.api.stallResponses(c.faultMs); await sleep(c.faultMs); }) },
    { name: 'api: gone', run: () => api(`listener closed for ${c.awayMs} ms`, () => c.api.goAwayFor(c.awayMs)) },
    { name: 'hand edit: delete an iptables rule', run: async () => {
      const rule = c.natJump.replace(/^-A /, '');
      const args = ['-t', 'nat', '-D', ...splitRule(rule)];
      await handEdit(c, `iptables rule deleted (iptables -t nat ${c.natJump})`,
        () => run('iptables', args),
        async () => (await run('iptables-save', ['-t', 'nat'])).stdout.split('\n').includes(c.natJump), 'every');
    } },
  ];
}

/** An iptables-save rule's words, with "quoted comments" kept whole. */
export function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Runs the steps in turn, `gapMs` apart, until `until()` says stop (every step runs at least once). */
export async function runFaults(c: FaultContext, gapMs: number, until: () => boolean, restartsUntil: () => boolean, restarts: boolean): Promise<number> {
  const steps = faultSteps(c).filter((s) => restarts || !s.name.startsWith('agent:'));
  let done = 0;
  for (let pass = 0; ; pass++) {
    for (const step of steps) {
      if (pass > 0 && until()) return done;
      // Restarts stop before the end, so that the last stretch is one long agent lifetime (the RSS trend).
      if (pass > 0 && step.name.startsWith('agent:') && !restartsUntil()) continue;
      c.setPhase(step.name);
      await step.run();
      done++;
      c.setPhase('steady');
      await sleep(gapMs);
    }
  }
}
