// What the agent's end-to-end tests share: Service and EndpointSlice objects, waiting for a change to
// reach the kernel, and load from a client process of its own.
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { Agent } from '../../src/agent/agent.js';
import { httpGet } from './helpers.js';

/** Wait until the agent has synced after now (the change made just before has landed). */
export async function synced(a: Agent, what: string, cond: () => boolean = () => true): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    await a.syncNow('change');
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function service(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name, ...extra }, spec };
}

export function sliceOf(node: string, name: string, service: string, ports: { name: string; port: number; protocol?: string }[], eps: { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean; pod?: string }[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    // The trigger time the EndpointSlice controller stamps on each change (network programming latency).
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      nodeName: e.node ?? node,
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace: 'default', name: e.pod } } : {}),
    })),
  };
}

// The client of trafficLoop, in a process of its own: the in-process agent's syncs are synchronous
// (netlink, iptables-save), and a client sharing their event loop would time out while blocked behind
// them, through no fault of the kernel's. One JSON line per request: when it was sent, body or error.
const LOOP_CLIENT = `
import { httpGet } from ${JSON.stringify(new URL('./helpers.js', import.meta.url).href)};
const [host, port] = process.argv.slice(2);
let stop = false;
process.stdin.on('data', () => { stop = true; });
process.stdin.on('end', () => { stop = true; });
while (!stop) {
  const t = Date.now();
  try {
    const body = (await httpGet(host, Number(port), '/', 3000)).trim();
    process.stdout.write(JSON.stringify({ t, body }) + '\\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ t, err: err.message }) + '\\n');
    await new Promise((r) => setTimeout(r, 50));
  }
}
`;

/** Sequential HTTP requests (a new connection each) from another process until stopped: what a client sees. */
export async function trafficLoop(dir: string, host: string, port: number, netns?: string) {
  const script = `${dir}/loop-client.mjs`;
  writeFileSync(script, LOOP_CLIENT);
  const argv = [process.execPath, script, host, String(port)];
  const child = netns ? spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const seen: string[] = [];
  /** When each answered request was sent (a request in flight across a sync began before it). */
  const sentAt: number[] = [];
  const failures: string[] = [];
  let tail = '';
  let first: () => void = () => {};
  const started = new Promise<void>((r) => (first = r));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const lines = (tail + chunk).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) {
      const r = JSON.parse(l) as { t: number; body?: string; err?: string };
      if (r.body !== undefined) {
        seen.push(r.body);
        sentAt.push(r.t);
        first();
      } else if (failures.length < 100) {
        failures.push(r.err!);
      }
    }
  });
  const exited = new Promise((r) => child.once('exit', r));
  // Node starts slowly in the sandbox: the load is on once the first answer is in.
  await Promise.race([started, exited, new Promise((r) => setTimeout(r, 30_000))]);
  return { seen, sentAt, failures, stop: async () => { child.stdin!.end(); await exited; } };
}

export async function gets(host: string, port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await httpGet(host, port)).trim());
  return out;
}

