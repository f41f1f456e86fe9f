// Event-loop lag while the agent works: perf_hooks' event-loop delay histogram (how late a timer
// fires: a loop held for 2 s shows as a 2 s sample), and the latency of GET /healthz polled every
// second by a process of its own (healthz-poller.ts), which is what a kubelet liveness probe sees.
// The benchmarks start a probe before a sync and stop it after.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

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

export class LagProbe {
  readonly #histogram = monitorEventLoopDelay({ resolution: 5 });
  readonly #latencies: number[] = [];
  #poller: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  /** Start measuring; with `healthzPort`, a poller process GETs /healthz every second (one request at a time). */
  async start(healthzPort?: number): Promise<void> {
    if (healthzPort !== undefined) {
      const child = spawn(process.execPath, [fileURLToPath(new URL('./healthz-poller.js', import.meta.url)), String(healthzPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
      this.#poller = child;
      this.#exited = new Promise((r) => child.once('exit', () => r()));
      let ready: () => void = () => {};
      const started = new Promise<void>((r) => (ready = r));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') ready();
        else if (!line.startsWith('error')) this.#latencies.push(Number(line));
      });
      await Promise.race([started, this.#exited.then(() => { throw new Error('the /healthz poller exited before it started'); })]);
    }
    this.#histogram.reset();
    this.#histogram.enable();
  }

  async stop(): Promise<LagFigures> {
    // A loop held until just now has its delay sample still to take: the histogram's timer fires at
    // the next turn, so wait for it before disabling.
    await new Promise((r) => setTimeout(r, 20));
    this.#histogram.disable();
    this.#poller?.stdin!.end();
    await this.#exited;
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
