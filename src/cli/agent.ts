// `kipvs agent`: read the configuration, pick the source (API server or manifests directory), run
// the agent until SIGTERM/SIGINT. `--cleanup` removes what kipvs owns and exits, as kube-proxy's.
import { writeFileSync } from 'node:fs';
import { loadConfig, usage, ConfigError, ConfigErrors, type AgentConfig } from '../config/index.js';
import { createLogger } from './log.js';
import { buildInfo, versionLine } from '../version/version.js';
import type { Source } from '../sources/types.js';
import type { EventSink } from '../agent/events.js';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage());
    return 0;
  }
  let config: AgentConfig;
  try {
    config = await loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const e of err instanceof ConfigErrors ? err.errors : [err]) process.stderr.write(`kipvs agent: ${e.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.version) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  const log = createLogger(config.logLevel, config.logFormat);
  const build = buildInfo();
  log.info({ ...build }, `${versionLine(build)} starting`);
  for (const w of config.warnings) log.warn({ source: w.source, ...(w.field ? { field: w.field } : {}) }, w.message);
  if (config.cleanup) {
    const { cleanup } = await import('./cleanup.js');
    return cleanup(log);
  }
  setOomScoreAdj(config.oomScoreAdj, log);
  const { Agent } = await import('../agent/agent.js');
  const { source, events } = await makeInputs(config, log);
  const agent = new Agent({
    ...(events ? { events } : {}),
    nodeName: config.nodeName,
    mode: config.mode,
    scheduler: config.ipvs.scheduler,
    strictARP: config.ipvs.strictARP,
    syncPeriodMs: config.mode === 'iptables' ? config.iptables.syncPeriodMs : config.ipvs.syncPeriodMs,
    minSyncPeriodMs: config.mode === 'iptables' ? config.iptables.minSyncPeriodMs : config.ipvs.minSyncPeriodMs,
    iptablesSync: config.iptables.sync,
    ...(config.iptables.backend ? { iptablesBackend: config.iptables.backend } : {}),
    heap: config.v8Heap,
    excludeCIDRs: config.ipvs.excludeCIDRs,
    vipBinding: config.vipBinding,
    timeouts: { tcp: config.ipvs.tcpTimeoutS, tcpFin: config.ipvs.tcpFinTimeoutS, udp: config.ipvs.udpTimeoutS },
    nodePortAddresses: config.nodePortAddresses,
    healthzBindAddress: config.healthzBindAddress,
    bindAddress: config.bindAddress,
    metricsBindAddress: config.metricsBindAddress,
    stateSocket: config.stateSocket,
    // 0 means no limit, as the flag says (kube-proxy never gives up on a draining server).
    gracefulTerminationTimeoutMs: config.gracefulTerminationTimeoutMs > 0 ? config.gracefulTerminationTimeoutMs : Infinity,
    iptables: {
      masqueradeAll: config.masqueradeAll, masqueradeBit: config.masqueradeBit, clusterCIDRs: config.clusterCIDR,
      localhostNodePorts: config.iptables.localhostNodePorts, detectLocal: { mode: config.detectLocalMode, ...config.detectLocal },
    },
    conntrack: config.conntrack,
    source,
    log,
  });
  try {
    agent.metrics.buildInfo.set(1, { version: build.version, commit: build.commit, node: build.node, kernel: build.kernel });
    await agent.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'agent failed to start');
    process.stderr.write(`kipvs agent: ${(err as Error).message}\n`);
    await agent.stop().catch(() => undefined);
    return 1;
  }
  log.info({ node: config.nodeName, source: source.describe(), healthz: agent.healthzPort, metrics: agent.metricsPort, state: config.stateSocket }, 'kipvs agent started');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping; the kernel keeps what was programmed');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await agent.stop();
  return 0;
}

/** The agent's source: the manifests directory when given, else the API server through informers. */
export async function makeSource(config: AgentConfig, log: ReturnType<typeof createLogger>): Promise<Source> {
  return (await makeInputs(config, log)).source;
}

/** The source, and where Events go: the API server the informers read (none for a manifests directory). */
export async function makeInputs(config: AgentConfig, log: ReturnType<typeof createLogger>): Promise<{ source: Source; events?: EventSink }> {
  if (config.manifests) {
    const { manifestSource } = await import('../sources/manifests.js');
    return { source: manifestSource({ dir: config.manifests, nodeName: config.nodeName, log }) };
  }
  const { informerSource } = await import('../sources/informers.js');
  const { KubeConfig } = await import('#client-node');
  const { loadKubeconfig } = await import('../sources/kubeconfig.js');
  let kc: InstanceType<typeof KubeConfig>;
  if (config.kubeconfig) kc = loadKubeconfig(config.kubeconfig);
  else {
    kc = new KubeConfig();
    if (!config.master) kc.loadFromDefault();
  }
  if (config.master) withServer(kc, config.master);
  const { apiEventSink } = await import('../sources/events.js');
  return { source: informerSource({ kubeConfig: kc, nodeName: config.nodeName, log }), events: apiEventSink(kc) };
}

/**
 * --master: the API server's URL over the kubeconfig's clusters (kube-proxy's override), or, without
 * a kubeconfig, the only thing known about the server (no credentials).
 */
export function withServer(kc: import('#client-node').KubeConfig, server: string): void {
  if (kc.getCurrentCluster()) {
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => ({ ...c, server })), users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext,
    });
  } else {
    kc.loadFromClusterAndUser({ name: 'master', server, skipTLSVerify: false }, { name: 'anonymous' });
  }
}

/** oomScoreAdj, as kube-proxy applies it: a failure is logged, not fatal. */
function setOomScoreAdj(value: number, log: ReturnType<typeof createLogger>): void {
  try {
    writeFileSync('/proc/self/oom_score_adj', String(value));
  } catch (err) {
    log.warn({ oomScoreAdj: value, err: (err as Error).message }, 'cannot set oom_score_adj');
  }
}

