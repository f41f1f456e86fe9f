// Event-loop lag while the agent works: perf_hooks' event-loop delay histogram (how late a timer
// fires: a loop held for 2 s shows as a 2 s sample), and the latency of GET /healthz polled every
// 100 ms, which is what a kubelet liveness probe sees. The benchmarks start a probe before a sync and
// stop it after.
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface LagFigures {
  /** Event-loop delay percentiles and maximum (ms). */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** GET /healthz answered during the run, and their latency (ms); 0 polls when no port is given. */
  healthzPolls: number;
  healthzP50Ms: number;
  healthzMaxMs: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : 0;
}

function get(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
}

export class LagProbe {
  readonly #histogram = monitorEventLoopDelay({ resolution: 5 });
  readonly #latencies: number[] = [];
  #polling = false;
  #poller: Promise<void> = Promise.resolve();

  /** Start measuring; with `healthzPort`, poll GET /healthz every 100 ms (one request at a time). */
  start(healthzPort?: number): void {
    this.#histogram.reset();
    this.#histogram.enable();
    if (healthzPort === undefined) return;
    this.#polling = true;
    this.#poller = (async () => {
      while (this.#polling) {
        const t = performance.now();
        await get(healthzPort);
        const ms = performance.now() - t;
        this.#latencies.push(ms);
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - ms)));
      }
    })();
  }

  async stop(): Promise<LagFigures> {
    // A loop held until just now has its delay sample still to take: the histogram's timer fires at
    // the next turn, so wait for it before disabling.
    await new Promise((r) => setTimeout(r, 20));
    this.#histogram.disable();
    this.#polling = false;
    await this.#poller;
    const h = this.#histogram;
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    return {
      lagP50Ms: round1(h.percentile(50) / 1e6),
      lagP99Ms: round1(h.percentile(99) / 1e6),
      lagMaxMs: round1(h.max / 1e6),
      healthzPolls: sorted.length,
      healthzP50Ms: round1(percentile(sorted, 0.5)),
      healthzMaxMs: round1(sorted[sorted.length - 1] ?? 0),
    };
  }
}
