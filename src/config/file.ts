// Reading a KubeProxyConfiguration file (YAML, or JSON, which YAML includes) against the settings
// table: every field kube-proxy knows is accepted with its type checked, anything else is an error;
// each error carries the file's line and column, and all of them are collected.
import { LineCounter, parseDocument, isMap, isScalar, type Document, type Node, type Pair } from 'yaml';
import { parseGoDurationMs } from './duration.js';
import { BY_FIELD, OBJECT_FIELDS, type ValueType } from './table.js';
import type { Problems } from './errors.js';

export const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const KIND = 'KubeProxyConfiguration';

export interface ParsedFile {
  name: string;
  /** Field path → value, for the fields the file sets (null ones left out, as Go's decoder does). */
  values: Map<string, unknown>;
  /** "name:line:col" of a field's value, for error messages; the bare name if unknown. */
  where(field: string): string;
}

export function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `v` is not of type `t` (`item`: the list index or map key at fault), or undefined when it is. */
export function typeProblem(t: ValueType, v: unknown): { item?: string; reason: string } | undefined {
  const r = typeReason(t, v);
  if (typeof r === 'string') return { reason: r };
  return r;
}

function typeReason(t: ValueType, v: unknown): string | { item: string; reason: string } | undefined {
  switch (t) {
    case 'string':
      return typeof v === 'string' ? undefined : `must be a string, not ${describe(v)}`;
    case 'bool':
      return typeof v === 'boolean' ? undefined : `must be true or false, not ${describe(v)}`;
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) ? undefined : `must be an integer, not ${describe(v)}`;
    case 'float':
      return typeof v === 'number' ? undefined : `must be a number, not ${describe(v)}`;
    case 'duration':
      return typeof v === 'string' && parseGoDurationMs(v) !== null ? undefined : `${describe(v)} is not a duration (e.g. "30s", "1m0s", "500ms")`;
    case 'strings':
      if (!Array.isArray(v)) return `must be a list of strings, not ${describe(v)}`;
      for (const [i, item] of v.entries()) if (typeof item !== 'string') return { item: `[${i}]`, reason: `must be a string, not ${describe(item)}` };
      return undefined;
    case 'boolMap':
      if (!isObject(v)) return `must be a map of names to true/false, not ${describe(v)}`;
      for (const [k, b] of Object.entries(v)) if (typeof b !== 'boolean') return { item: `.${k}`, reason: `must be true or false, not ${describe(b)}` };
      return undefined;
    case 'any':
      return undefined;
  }
}

/** Parses and checks `text`; problems go to `p`. `name` is used in messages. */
export function parseConfigText(text: string, name: string, p: Problems): ParsedFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  const positions = new Map<string, string>();
  const out: ParsedFile = { name, values: new Map(), where: (f) => positions.get(f) ?? name };
  if (doc.errors.length) {
    for (const e of doc.errors) p.error(at(e.pos[0]), '', `not valid YAML or JSON: ${e.message.split('\n')[0]}`);
    return out;
  }
  if (!isMap(doc.contents)) {
    p.error(name, '', 'must hold a KubeProxyConfiguration object');
    return out;
  }
  walk(doc, doc.contents.items as Pair[], '', out, positions, at, p);
  if (out.values.get('apiVersion') !== API_VERSION) {
    p.error(out.where('apiVersion'), 'apiVersion', `must be "${API_VERSION}", not ${describe(out.values.get('apiVersion') ?? '')}`);
  }
  if (out.values.get('kind') !== KIND) p.error(out.where('kind'), 'kind', `must be "${KIND}", not ${describe(out.values.get('kind') ?? '')}`);
  return out;
}

function walk(doc: Document, pairs: Pair[], prefix: string, out: ParsedFile, positions: Map<string, string>, at: (o: number) => string, p: Problems): void {
  for (const pair of pairs) {
    const keyNode = pair.key as Node | null;
    const key = isScalar(keyNode) ? String(keyNode.value) : describe(keyNode?.toJS(doc));
    const path = prefix ? `${prefix}.${key}` : key;
    const keyAt = keyNode?.range ? at(keyNode.range[0]) : out.name;
    const valueNode = pair.value as Node | null;
    const valueAt = valueNode?.range ? at(valueNode.range[0]) : keyAt;
    const value: unknown = valueNode ? valueNode.toJS(doc) : null;
    positions.set(path, valueAt);
    if (OBJECT_FIELDS.has(path)) {
      if (value === null) continue;
      if (!isMap(valueNode)) p.error(valueAt, path, `must be an object, not ${describe(value)}`);
      else walk(doc, valueNode.items as Pair[], path, out, positions, at, p);
      continue;
    }
    const row = BY_FIELD.get(path);
    if (!row) {
      p.error(keyAt, path, 'unknown field');
      continue;
    }
    if (value === null) continue; // unset, as Go's decoder treats null
    const why = typeProblem(row.type, value);
    if (why !== undefined) {
      p.error(valueAt, `${path}${why.item ?? ''}`, why.reason);
      continue;
    }
    out.values.set(path, value);
  }
}
