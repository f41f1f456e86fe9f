// A V8 CPU profile of one stretch of the benchmark (the initial sync), through the inspector in this
// process: unlike node's --cpu-prof it leaves out the feeding, the later syncs and the bench's own
// set-up. Sampled every 4 ms: at 0.5 ms the sandbox's 10,000-Service sync took 60 s instead of 25.
// The .cpuprofile opens in Chrome's DevTools (Performance) or speedscope; profileSummary() prints the
// functions with the most self time, so a reader of the results sees where it went.
import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

export class CpuProfiler {
  readonly #session = new Session();
  async start(intervalUs = 4000): Promise<void> {
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.#session.post('Profiler.start');
  }
  /** Stops, writes the profile to `file` and returns it. */
  async stop(file: string): Promise<CpuProfile> {
    const { profile } = (await this.#session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    await this.#session.post('Profiler.disable');
    this.#session.disconnect();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    return profile;
  }
}

/** Self time by function (name, file:line), the `top` largest, as ms and share of the samples. */
export function profileSummary(p: CpuProfile, top = 25): string[] {
  const total = (p.endTime - p.startTime) / 1000;
  const hits = new Map<string, number>();
  let all = 0;
  for (const n of p.nodes) {
    const h = n.hitCount ?? 0;
    if (!h) continue;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    hits.set(key, (hits.get(key) ?? 0) + h);
    all += h;
  }
  const ms = (h: number) => (h / all) * total;
  return [...hits].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, h]) => `${ms(h).toFixed(0).padStart(7)} ms ${((h / all) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
