// node:http reaches the agent through process.getBuiltinModule (src/runtime/http.ts), never through an
// ES import: on Node 22 and 24 an ES import of it reads its lazy exports, which load undici, tls and
// http2 and keep about 6 MB more RSS (measured after a full collection, Node 24). The sources and the
// bundles are checked as text, and a node process loading the agent and the client-node bundle is
// checked for the modules such an import would have loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { filesUnder } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const files = (dir: string, ext: string): string[] => filesUnder(dir, (p) => p.endsWith(ext) && !p.endsWith('.d.ts'));

/** ES imports of node:http that bring values (`import type` is erased and costs nothing). */
const VALUE_IMPORT = /\bimport(?!\s+type\b)\s*(?:[\w$]+|\{[^}]*\}|\*\s*as\s+[\w$]+)(?:\s*,\s*(?:\{[^}]*\}|\*\s*as\s+[\w$]+))?\s*from\s*["'](?:node:)?http["']/g;

test('no source of the agent, its sources or the benchmark scripts imports node:http as an ES module', () => {
  const found: string[] = [];
  // test/fake-apiserver: the benchmark's processes load it (the new node's API server).
  for (const dir of ['src', 'scripts', 'test/fake-apiserver']) {
    for (const f of files(join(root, dir), '.ts')) {
      for (const m of readFileSync(f, 'utf8').matchAll(VALUE_IMPORT)) found.push(`${relative(root, f)}: ${m[0]}`);
    }
  }
  assert.deepEqual(found, []);
  // The pattern itself finds what it must, and leaves type imports alone.
  assert.equal([..."import http from 'node:http';\nimport { STATUS_CODES } from\"http\"".matchAll(VALUE_IMPORT)].length, 2);
  assert.equal([..."import type { Server } from 'node:http';".matchAll(VALUE_IMPORT)].length, 0);
});

test('the bundles (dist/bundle, dist/vendor/client-node.js) hold no ES import of node:http', () => {
  const bundles = [...files(join(root, 'dist', 'bundle'), '.js'), join(root, 'dist', 'vendor', 'client-node.js')];
  assert.ok(bundles.length >= 2, `bundles: ${bundles.length}`);
  const found = bundles.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(VALUE_IMPORT)].map((m) => `${relative(root, f)}: ${m[0].slice(0, 80)}`));
  assert.deepEqual(found, []);
});

test('loading the agent, the client-node bundle and the fake API server loads neither undici nor http2', () => {
  const script = [
    `await import(${JSON.stringify(join(root, 'dist', 'src', 'agent', 'agent.js'))});`,
    `await import(${JSON.stringify(join(root, 'dist', 'src', 'sources', 'api-get.js'))});`,
    `await import(${JSON.stringify(join(root, 'dist', 'vendor', 'client-node.js'))});`,
    `await import(${JSON.stringify(join(root, 'dist', 'test', 'fake-apiserver', 'server.js'))});`,
    'console.log(JSON.stringify(process.moduleLoadList));',
  ].join('\n');
  const loaded = JSON.parse(execFileSync(process.execPath, ['--no-deprecation', '--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  assert.ok(loaded.includes('NativeModule http'), 'node:http itself is loaded');
  assert.deepEqual(loaded.filter((m) => /undici|http2/.test(m)), []);
});
