// What every input source (the Kubernetes API through informers, or a directory of manifests) gives the
// agent: objects upserted and removed by kind, one "synced" once the initial state is complete, and errors
// it keeps retrying past by itself.
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';

export type { V1Service, V1EndpointSlice, V1Node };
export type Kind = 'Service' | 'EndpointSlice' | 'Node';
export type KubeObject = V1Service | V1EndpointSlice | V1Node;

export interface SourceEvents {
  upsert(kind: Kind, obj: KubeObject): void;
  remove(kind: Kind, obj: KubeObject): void;
  /** Called once, when the initial lists of all three kinds have been received (no sync before that). */
  synced(): void;
  /** A list/watch or file problem; the source keeps retrying by itself. */
  error(kind: Kind | 'manifests', err: Error): void;
  /** The source restarted a watch by itself (e.g. 'stalled': nothing came for too long). */
  watchRestarted?(kind: Kind, reason: string): void;
}

export interface Source {
  start(events: SourceEvents): Promise<void>;
  stop(): Promise<void>;
  describe(): string;
}

/** The part of a pino logger the sources use (pino's `logger.info({ ... }, 'message')` shape). */
export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** "kind/namespace/name" ("kind//name" for cluster-scoped objects): the key sources diff by. */
export function objectKey(kind: Kind, obj: KubeObject): string {
  // Names of another type (a malformed object, which the model warns about) as JSON: nothing throws.
  const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v) ?? '');
  // join(): one flat string (a template literal's concatenations cost ~110 B more per key kept).
  return [kind, text(obj.metadata?.namespace), text(obj.metadata?.name)].join('/');
}

/** Kubernetes Event type. */
export type EventType = 'Normal' | 'Warning';

/** An events.k8s.io/v1 Event as sent: plain JSON. */
export interface ApiEvent {
  metadata: { generateName: string; namespace: string };
  /** A MicroTime: RFC 3339 with six fractional digits, as the API server requires. */
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: EventType;
  note: string;
  regarding: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
}

/** Where Events go (the API server: events.ts); the agent's recorder (agent/events.ts) feeds it. */
export interface EventSink {
  create(namespace: string, event: ApiEvent): Promise<unknown>;
}

