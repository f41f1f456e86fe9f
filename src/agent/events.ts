// Kubernetes Events for what an operator must see without reading logs: a Service skipped for bad input
// (on the Service), drift repaired, graceful termination giving up, a failed sync (on the Node).
// events.k8s.io/v1, reportingController "kipvs.io/kipvs", reportingInstance "kipvs-<node>".
//
// Bounded like client-go's recorder: one Event per (object, reason, note) at most every `repeatMs`
// (default 10 min; repeats in between are counted and the next Event says how many), at most
// `maxPerMinute` Events a minute (burst protection when a sync fails repeatedly), sent one at a time off
// the sync path; a failed send is dropped (Events are best effort, as in kube-proxy): the first one
// logged as a warning, the rest at debug.
import type { EventType, ApiEvent, EventSink } from '../sources/types.js';

export type { EventType, ApiEvent, EventSink } from '../sources/types.js';

export interface EventObject {
  kind: 'Service' | 'Node';
  namespace?: string;
  name: string;
  uid?: string;
}

/** A MicroTime from epoch ms: a Date's ISO text with its milliseconds padded to microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface RecorderOptions {
  sink: EventSink | undefined;
  nodeName: string;
  log: { debug(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  now?: () => number;
  repeatMs?: number;
  maxPerMinute?: number;
}

/** Reasons kipvs emits, one word each (CamelCase, as Kubernetes reasons are). */
export const REASONS = {
  invalidService: 'InvalidServiceSkipped',
  driftRepaired: 'DriftRepaired',
  drainGaveUp: 'GracefulTerminationTimeout',
  syncFailed: 'SyncFailed',
} as const;

export class EventRecorder {
  readonly #o: Required<Omit<RecorderOptions, 'sink'>> & { sink: EventSink | undefined };
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  #window: { start: number; sent: number } = { start: 0, sent: 0 };
  #queue: Promise<void> = Promise.resolve();
  /** Events handed to the sink (for tests and the metrics). */
  sent = 0;
  dropped = 0;

  constructor(o: RecorderOptions) {
    this.#o = { now: Date.now, repeatMs: 600_000, maxPerMinute: 30, ...o };
  }

  /** Record an Event; returns whether it will be sent (false: a repeat within repeatMs, or over the rate). */
  record(object: EventObject, type: EventType, reason: string, note: string): boolean {
    const { sink, now, repeatMs, maxPerMinute, nodeName } = this.#o;
    if (!sink) return false;
    const t = now();
    const key = `${object.kind}/${object.namespace ?? ''}/${object.name}|${reason}|${note}`;
    const last = this.#last.get(key);
    if (last && t - last.at < repeatMs) {
      last.suppressed++;
      return false;
    }
    if (t - this.#window.start >= 60_000) this.#window = { start: t, sent: 0 };
    if (this.#window.sent >= maxPerMinute) {
      this.dropped++;
      return false;
    }
    this.#window.sent++;
    const repeats = last?.suppressed ?? 0;
    this.#last.set(key, { at: t, suppressed: 0 });
    if (this.#last.size > 10_000) this.#last.delete(this.#last.keys().next().value!);
    const namespace = object.namespace ?? 'default';
    const event: ApiEvent = {
      metadata: { generateName: `${object.name}.`, namespace },
      eventTime: microTime(t),
      reportingController: 'kipvs.io/kipvs',
      reportingInstance: `kipvs-${nodeName}`,
      action: reason === REASONS.syncFailed ? 'Sync' : reason === REASONS.invalidService ? 'Skip' : 'Reconcile',
      reason,
      type,
      // The API server caps note at 1 kB.
      note: (repeats > 0 ? `${note} (and ${repeats} more times since the last event)` : note).slice(0, 1024),
      regarding: {
        apiVersion: 'v1', kind: object.kind, name: object.name,
        ...(object.namespace !== undefined ? { namespace: object.namespace } : {}),
        ...(object.uid !== undefined ? { uid: object.uid } : {}),
      },
    };
    this.#queue = this.#queue.then(async () => {
      try {
        await sink.create(namespace, event);
        this.sent++;
      } catch (err) {
        this.dropped++;
        // The first refusal is a warning: Events refused for good (as every one was while eventTime was
        // sent in milliseconds) must not go unseen; later ones are at debug, and counted.
        const fields = { err: (err as Error).message, reason, object: key };
        if (this.dropped === 1) this.#o.log.warn(fields, 'event not recorded (further failures are logged at debug level)');
        else this.#o.log.debug(fields, 'event not recorded');
      }
    });
    return true;
  }

  /** Resolves when every Event recorded so far has been sent or dropped. */
  flush(): Promise<void> {
    return this.#queue;
  }
}
