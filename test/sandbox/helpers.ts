// Shared helpers for sandbox tests: shell commands, backends in network namespaces, HTTP through a VIP.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { DesiredIpvs } from '../../src/backends/ipvs/plan.js';

/** Run a shell command; return stdout. Throws with stderr on failure. */
export function sh(cmd: string, input?: string): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Run a shell command; return status and output without throwing. */
export function shStatus(cmd: string): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: sh(cmd), stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface Backend {
  ns: string;
  address: string;
  hostAddress: string;
  port: number;
  stop(): void;
}

/**
 * A backend host: a network namespace joined to the root namespace by a veth pair on its own /24,
 * running busybox httpd that answers GET / with the namespace's name.
 */
export function startBackend(ns: string, subnet: number, port = 8080): Backend {
  const address = `10.244.${subnet}.2`;
  const hostAddress = `10.244.${subnet}.1`;
  const veth = `v-${ns}`.slice(0, 15);
  sh(`ip netns add ${ns}
      ip link add ${veth} type veth peer name eth0 netns ${ns}
      ip addr add ${hostAddress}/24 dev ${veth} && ip link set ${veth} up
      ip -n ${ns} link set lo up && ip -n ${ns} addr add ${address}/24 dev eth0 && ip -n ${ns} link set eth0 up
      ip -n ${ns} route add default via ${hostAddress}`);
  const dir = `/tmp/www-${ns}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/index.html`, `${ns}\n`);
  // GET /cgi-bin/peer answers with the client address the backend sees (masquerade or not).
  mkdirSync(`${dir}/cgi-bin`, { recursive: true });
  writeFileSync(`${dir}/cgi-bin/peer`, '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n', { mode: 0o755 });
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', String(port), '-h', dir], { stdio: 'ignore' });
  waitFor(() => shStatus(`ip netns exec ${ns} busybox nc -z 127.0.0.1 ${port} 2>/dev/null || ip netns exec ${ns} ss -ltn | grep -q :${port}`).status === 0, 10_000, `httpd in ${ns}`);
  return {
    ns, address, hostAddress, port,
    stop() {
      child.kill('SIGKILL');
      shStatus(`ip netns del ${ns}; ip link del ${veth} 2>/dev/null`);
    },
  };
}

/** Poll `cond` (synchronously, with short sleeps) until it holds or `ms` pass. */
export function waitFor(cond: () => boolean, ms: number, what: string): void {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

/** One HTTP GET on a fresh connection; resolves to the body. */
export function httpGet(host: string, port: number, path = '/', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode} from ${host}:${port}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms to ${host}:${port}`)));
    req.on('error', reject);
  });
}

/** Remove every IPVS service, the test dummy link, and the agent's iptables chains and ipsets. */
export function resetKernel(): void {
  sh('ipvsadm -C');
  shStatus('ip link del kube-ipvs0');
  // kipvs' local routes (--vip-binding local-route), both families.
  shStatus('ip route flush table local proto 107; ip -6 route flush table local proto 107');
  for (const bin of ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy']) {
    // Everything but the KUBE- chains and the jumps to them, restored over the whole tables. Legacy
    // tables are looked at only when they hold KUBE- rules (reading them would create them).
    const guard = bin.endsWith('legacy') ? `${bin}-save 2>/dev/null | grep -q KUBE-` : `${bin}-save -t nat >/dev/null 2>&1`;
    shStatus(`${guard} && for t in nat filter; do ${bin}-save -t $t | grep -v -- 'KUBE-' | ${bin}-restore -T $t; done`);
  }
  shStatus("ipset list -n | grep '^KUBE-' | xargs -r -n1 ipset destroy");
}

/** The `ipvsadm -Sn` lines a desired state gives (masquerading, weight 1), sorted. */
export function ipvsadmLinesOf(want: DesiredIpvs): string[] {
  const out: string[] = [];
  for (const { service: s, servers } of want.services.values()) {
    const p = s.protocol === 'tcp' ? '-t' : '-u';
    out.push(`-A ${p} ${s.address}:${s.port} -s ${s.scheduler}`);
    for (const r of servers.values()) out.push(`-a ${p} ${s.address}:${s.port} -r ${r.address}:${r.port} -m -w 1`);
  }
  return out.sort();
}
