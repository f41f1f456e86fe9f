// The sandbox demo (npm run demo): the real agent, as a node would run it, in a real kernel. Three
// backends in network namespaces; a Service and its EndpointSlice in a manifests directory (no API
// server here); `kipvs agent` programs IPVS and kube-ipvs0; HTTP flows through the VIP; a pod is
// removed from the slice and kipvs drains it; list/explain/metrics show what it did; cleanup.
// `npm run demo -- --proxy-mode iptables` runs the same story in iptables mode: kube-proxy's chains.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { http } from '../src/runtime/http.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../src/config/heap.js';

const DIR = '/tmp/kipvs-demo';
const argv = process.argv.slice(2);
const MODE = argv.includes('--proxy-mode=iptables') || argv[argv.indexOf('--proxy-mode') + 1] === 'iptables' ? 'iptables' : 'ipvs';
const KIPVS = new URL('../../bin/kipvs.js', import.meta.url).pathname;
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
const kipvs = (...args: string[]) => execFileSync(process.execPath, [KIPVS, ...args], { encoding: 'utf8', env: { ...process.env, KIPVS_STATE_SOCKET: `${DIR}/state.sock` } });
const say = (s: string) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function backend(i: number): { ns: string; address: string } {
  const ns = `demo-pod${i}`;
  const address = `10.244.${i}.2`;
  sh(`ip netns add ${ns}
      ip link add veth${i} type veth peer name eth0 netns ${ns}
      ip addr add 10.244.${i}.1/24 dev veth${i} && ip link set veth${i} up
      ip -n ${ns} link set lo up && ip -n ${ns} addr add ${address}/24 dev eth0 && ip -n ${ns} link set eth0 up
      ip -n ${ns} route add default via 10.244.${i}.1`);
  mkdirSync(`${DIR}/www/${ns}`, { recursive: true });
  writeFileSync(`${DIR}/www/${ns}/index.html`, `hello from ${ns} (${address})\n`);
  spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', `${DIR}/www/${ns}`], { stdio: 'ignore', detached: true }).unref();
  return { ns, address };
}

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, agent: false, timeout: 3000 }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b.trim()));
    }).on('error', reject);
  });
}

async function traffic(host: string, port: number, n: number): Promise<void> {
  const counts = new Map<string, number>();
  let failed = 0;
  for (let i = 0; i < n; i++) {
    try {
      const who = (await get(host, port)).split(' ')[2] ?? '?';
      counts.set(who, (counts.get(who) ?? 0) + 1);
    } catch {
      failed++;
    }
  }
  for (const [who, c] of [...counts].sort()) console.log(`  ${who.padEnd(10)} ${'#'.repeat(c)} ${c}`);
  console.log(`  ${n} requests to ${host}:${port}, ${failed} failed`);
}

function manifests(pods: { ns: string; address: string }[]): string {
  const endpoints = pods.map((p) => `  - addresses: [${p.address}]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: demo-node
    targetRef: {kind: Pod, namespace: default, name: ${p.ns}}
`).join('');
  return `apiVersion: v1
kind: Service
metadata: {namespace: default, name: web}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: web-abcde
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
${endpoints}`;
}

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

rmSync(DIR, { recursive: true, force: true });
mkdirSync(`${DIR}/manifests`, { recursive: true });
sh('ipvsadm -C');
const pods = [1, 2, 3].map(backend);
// A node's default route covers the cluster IPs; iptables mode binds no VIP, so without a route connect()
// fails before nat OUTPUT can DNAT. The first pod's link plays the gateway (nothing is sent there).
if (MODE === 'iptables') sh('ip route replace 10.96.0.0/12 via 10.244.1.2');
writeFileSync(`${DIR}/manifests/web.yaml`, manifests(pods));
writeFileSync(`${DIR}/config.yaml`, `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ${MODE}
ipvs:
  scheduler: rr
  strictARP: true
  syncPeriod: 30s
  minSyncPeriod: 100ms
iptables:
  syncPeriod: 30s
  minSyncPeriod: 100ms
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
`);

// kipvs diff: what the agent's first sync will do on this node, changing nothing (exit 1: something would change).
const diff = () => spawnSync(process.execPath, [KIPVS, 'diff', `--config=${DIR}/config.yaml`, `--manifests=${DIR}/manifests`, '--hostname-override=demo-node', '--color=always'], { encoding: 'utf8' });
say('kipvs diff: what the first sync would change (nothing is changed); the Service\'s part and the summary');
{
  const d = diff();
  const lines = d.stdout.trimEnd().split('\n');
  // The Service's own hunks: its virtual services and VIP (IPVS mode), its KUBE-SVC/SEP chains (iptables mode).
  const mine = /virtual-service|kube-ipvs0 addresses|KUBE-SVC-|KUBE-SEP-/;
  let inMine = false;
  const hunks = lines.slice(2, -1).filter((l) => (l.includes('@@') ? (inMine = mine.test(l)) : inMine));
  console.log([...lines.slice(0, 2), ...hunks.slice(0, 24), '  …', lines[lines.length - 1]].join('\n'));
  console.log(`  (exit status ${d.status})`);
}

say(`kipvs agent --config config.yaml --manifests manifests/ (mode: ${MODE}; a Service web with 3 endpoints)`);
const agent = spawn(process.execPath, [...NODE_FLAGS[DEFAULT_HEAP], KIPVS, 'agent', `--config=${DIR}/config.yaml`, `--manifests=${DIR}/manifests`, '--hostname-override=demo-node', `--state-socket=${DIR}/state.sock`], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let logs = '';
agent.stderr!.on('data', (c) => (logs += c));
const syncLines = () => logs.split('\n').filter((l) => l.includes('"msg":"sync"'));
// An agent process starts in seconds on a node; in the emulated sandbox, on a busy machine, it has taken
// over a minute (node itself takes 6 s there): hence the long wait, and its log if even that runs out.
await waitFor('the first sync', () => syncLines().length > 0, 240_000).catch((err: Error) => {
  throw new Error(`${err.message}; the agent's log:\n${logs.split('\n').slice(-20).join('\n')}`);
});
console.log(`  ${syncLines()[0]}`);
{
  const d = diff();
  console.log(`  kipvs diff now: ${d.stdout.trim().split('\n').pop()} (exit status ${d.status})`);
}

if (MODE === 'ipvs') {
  say('kube-ipvs0 holds the VIP; kipvs ipvsadm -Ln (kipvs\' own netlink reader, ipvsadm\'s format)');
  console.log(sh('ip -br addr show dev kube-ipvs0').trimEnd());
  console.log(kipvs('ipvsadm', '-Ln').trimEnd());

  say('the ipsets and iptables rules of IPVS mode: what the Service added to the sets, and the masquerade rules');
  for (const set of ['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP', 'KUBE-IPVS-IPS', 'KUBE-LOOP-BACK']) {
    const members = sh(`ipset list ${set}`).split('\nMembers:\n')[1]?.trim().split('\n').filter(Boolean) ?? [];
    console.log(`  ${set.padEnd(20)} ${members.join('  ') || '(empty)'}`);
  }
  const nat = sh('iptables-save -t nat').split('\n');
  console.log(`  nat rules in kipvs chains: ${nat.filter((l) => /^-A KUBE-/.test(l)).length} (the same for 1 Service or 10,000); for example:`);
  for (const l of nat.filter((l) => /^-A KUBE-(POSTROUTING|MARK-MASQ) .*(MASQUERADE|--or-mark|--set-xmark)/.test(l)).slice(0, 2)) console.log(`    ${l}`);
} else {
  say('kube-proxy\'s iptables-mode chains for the Service: KUBE-SERVICES → KUBE-SVC-… → one KUBE-SEP-… per endpoint');
  const nat = sh('iptables-save -t nat').split('\n');
  const svc = /-j (KUBE-SVC-\w+)/.exec(nat.find((l) => l.startsWith('-A KUBE-SERVICES -d 10.96.0.10/32')) ?? '')?.[1] ?? '?';
  for (const l of nat.filter((l) => l.startsWith('-A KUBE-SERVICES -d 10.96.0.10/32') || l.startsWith(`-A ${svc} `) || /^-A KUBE-SEP-\w+ .*DNAT/.test(l))) console.log(`  ${l}`);
  console.log(`  nat rules in kube-proxy chains: ${nat.filter((l) => /^-A KUBE-/.test(l)).length} (they grow with every Service and endpoint)`);
}

say('30 HTTP requests through the ClusterIP, 9 through the NodePort on a node address');
await traffic('10.96.0.10', 80, 30);
await traffic('10.244.1.1', 30080, 9);

say(MODE === 'ipvs' ? 'demo-pod3 leaves the EndpointSlice: kipvs drains it (weight 0), traffic goes to the others'
  : 'demo-pod3 leaves the EndpointSlice: a partial restore rewrites the Service\'s chains and deletes its KUBE-SEP chain');
const before = syncLines().length;
writeFileSync(`${DIR}/manifests/web.yaml`, manifests(pods.slice(0, 2)));
await waitFor('the change to sync', () => syncLines().length > before, 90_000);
console.log(`  ${syncLines().at(-1)}`);
await traffic('10.96.0.10', 80, 12);

say(MODE === 'ipvs' ? 'kipvs list: each virtual service with its Service, each real server with its pod' : 'kipvs list: each frontend with its Service port, chain and endpoints, read from iptables-save');
console.log(kipvs('list').trimEnd());

say('kipvs explain 10.96.0.10:80');
console.log(kipvs('explain', '10.96.0.10:80').trimEnd());

say('metrics (kube-proxy names plus kipvs\' own), from 127.0.0.1:10249/metrics');
const metrics = await new Promise<string>((resolve, reject) => {
  http.get({ host: '127.0.0.1', port: 10249, path: '/metrics', agent: false }, (res) => {
    let b = '';
    res.on('data', (c) => (b += c));
    res.on('end', () => resolve(b));
  }).on('error', reject);
});
for (const line of metrics.split('\n')) {
  if (/^(kubeproxy_sync_proxy_rules_duration_seconds_count|kubeproxy_network_programming_duration_seconds_count|kubeproxy_sync_proxy_rules_iptables_total|kipvs_netlink_operations_total|kipvs_graceful_termination_queue_size|kipvs_virtual_services|kipvs_real_servers)/.test(line)) console.log(`  ${line}`);
}

say('the agent stops (the kernel keeps its rules); kipvs cleanup removes them');
agent.kill('SIGTERM');
await new Promise((r) => agent.once('exit', r));
console.log(`  after the agent stopped, the VIP still answers: ${await get('10.96.0.10', 80)}`);
console.log(`  ${kipvs('cleanup').trim()}`);
console.log(`  ipvsadm -Ln now lists ${sh('ipvsadm -Ln').split('\n').filter((l) => l.startsWith('TCP')).length} virtual services; iptables-save holds ${sh('iptables-save').split('\n').filter((l) => /^-A .*KUBE-(SVC|SEP|SERVICES)/.test(l)).length} Service rules`);

for (const p of pods) sh(`ip netns pids ${p.ns} | xargs -r kill; ip netns del ${p.ns}`);

say('done');
