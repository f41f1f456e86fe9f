// The Node.js process metrics a Prometheus user expects from any exporter: CPU seconds, resident and heap
// memory, open file descriptors, start time, garbage collection, and event-loop lag. Syncs run on the
// event loop, so its lag is the agent's own health signal (a 10,000-Service full sync shows here).
// prom-client's default collectors (a well-kept library; loaded by the agent only: importing it costs
// 80–250 ms here, which the CLI commands need not pay), in a registry of their own that /metrics appends
// to the agent's.
export interface ProcessMetrics {
  render(): Promise<string>;
}

export async function processMetrics(): Promise<ProcessMetrics> {
  // prom-client is CommonJS: bundled (dist/bundle, scripts/bundle.js) a dynamic import of it gives its
  // module.exports as the default export only; unbundled, Node gives named exports and the same default.
  const { Registry, collectDefaultMetrics } = (await import('prom-client')).default;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  return { render: () => registry.metrics() };
}
