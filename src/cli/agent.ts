// `kipvs agent`: read the configuration, pick the source (API server or manifests directory), run
// the agent until SIGTERM/SIGINT. `--cleanup` removes what kipvs owns and exits, as kube-proxy's.
import { loadConfig, usage, ConfigError, type AgentConfig } from '../config/index.js';
import { createLogger } from './log.js';
import type { Source } from '../sources/types.js';

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
      process.stderr.write(`kipvs agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (config.cleanup) {
    const { cleanup } = await import('./cleanup.js');
    return cleanup(log);
  }
  const { Agent } = await import('../agent/agent.js');
  const source = await makeSource(config, log);
  const agent = new Agent({
    nodeName: config.nodeName,
    mode: config.mode,
    scheduler: config.ipvs.scheduler,
    strictARP: config.ipvs.strictARP,
    syncPeriodMs: config.mode === 'iptables' ? config.iptables.syncPeriodMs : config.ipvs.syncPeriodMs,
    minSyncPeriodMs: config.mode === 'iptables' ? config.iptables.minSyncPeriodMs : config.ipvs.minSyncPeriodMs,
    iptablesSync: config.iptables.sync,
    ...(config.iptables.backend ? { iptablesBackend: config.iptables.backend } : {}),
    excludeCIDRs: config.ipvs.excludeCIDRs,
    timeouts: { tcp: config.ipvs.tcpTimeoutS, tcpFin: config.ipvs.tcpFinTimeoutS, udp: config.ipvs.udpTimeoutS },
    nodePortAddresses: config.nodePortAddresses,
    healthzBindAddress: config.healthzBindAddress,
    bindAddress: config.bindAddress,
    metricsBindAddress: config.metricsBindAddress,
    stateSocket: config.stateSocket,
    // 0 means no limit, as the flag says (kube-proxy never gives up on a draining server).
    gracefulTerminationTimeoutMs: config.gracefulTerminationTimeoutMs > 0 ? config.gracefulTerminationTimeoutMs : Infinity,
    iptables: { masqueradeAll: config.masqueradeAll, masqueradeBit: config.masqueradeBit, clusterCIDRs: config.clusterCIDR },
    source,
    log,
  });
  try {
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
  if (config.manifests) {
    const { manifestSource } = await import('../sources/manifests.js');
    return manifestSource({ dir: config.manifests, nodeName: config.nodeName, log });
  }
  const { informerSource } = await import('../sources/informers.js');
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return informerSource({ kubeConfig: kc, nodeName: config.nodeName, log });
}
