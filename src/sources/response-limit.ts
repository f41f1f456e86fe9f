// Bounds on what the API server may send: client-node reads a whole list page, and a whole watch
// event line, into memory before kipvs sees it, so a hostile or broken server could send one large
// enough to exhaust memory. Every request of the informers goes through an HTTP agent that
// KubeConfig.createAgent makes; wrapping that agent lets kipvs count each response's body bytes as they
// arrive (after TLS and chunked framing) and destroy the response, with a clear error, once it passes
// the limit: a list page as a whole, a watch between two events (the informer resets the count at each
// event or bookmark). client-node and node-fetch then fail the request with that error, and the
// informer retries it with backoff like any other failure.
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { KubeConfig } from '#client-node';

/** A response's byte count so far; `over` is set when the limit was passed. Reset by its owner. */
export interface ByteGauge {
  bytes: number;
  over: boolean;
}

export function newGauge(): ByteGauge {
  return { bytes: 0, over: false };
}

/** "16 MiB", "512 KiB", "100 bytes". */
export function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

/**
 * The agent, with every response through it counted into `gauge` (a fresh count per response unless
 * `gauge.bytes` is reset meanwhile) and destroyed with an error saying `what` once past `limit` bytes.
 */
export function limitResponses(agent: Agent, limit: number, what: string, gauge: ByteGauge = newGauge()): Agent {
  const a = agent as unknown as { addRequest(req: ClientRequest, options: unknown): unknown };
  const addRequest = a.addRequest;
  a.addRequest = function (this: unknown, req: ClientRequest, options: unknown) {
    req.once('response', (res: IncomingMessage) => {
      gauge.bytes = 0;
      gauge.over = false;
      res.on('data', (chunk: Buffer) => {
        gauge.bytes += chunk.length;
        if (gauge.bytes > limit && !gauge.over) {
          gauge.over = true;
          res.destroy(new Error(`${what} larger than ${formatBytes(limit)}; the response was cut off`));
        }
      });
    });
    return addRequest.call(this, req, options);
  };
  return agent;
}

/**
 * A KubeConfig whose every agent (API clients made from it, and Watch through applyToFetchOptions)
 * limits its responses. The original is untouched: the copy inherits from it and overrides createAgent.
 */
export function limitedKubeConfig(kc: KubeConfig, limit: number, what: string, gauge?: ByteGauge): KubeConfig {
  const inner = kc as unknown as { createAgent(cluster: unknown, options: unknown): Agent };
  const copy = Object.create(kc) as { createAgent(cluster: unknown, options: unknown): Agent };
  copy.createAgent = (cluster: unknown, options: unknown) => limitResponses(inner.createAgent(cluster, options), limit, what, gauge);
  return copy as unknown as KubeConfig;
}
