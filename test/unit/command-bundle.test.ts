// The command bundle (dist/bundle, scripts/bundle.js) keeps every lazily imported name: esbuild turns a
// dynamic import of a CommonJS package into a chunk with a default export only, so destructuring named
// exports from it gives undefined at run time ("Registry is not a constructor" stopped the agent in the
// sandbox). Every `{...} = await import("./chunk-….js")` and `(await import("./chunk-….js")).name` in the
// bundle must name exports the chunk has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../src/version/version.js';

const dir = join(PACKAGE_ROOT, 'dist', 'bundle');

test('every name taken from a lazily imported chunk of the command bundle is exported by it', async () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.js'));
  assert.ok(files.includes('kipvs.js'), 'dist/bundle/kipvs.js (npm run build)');
  const wanted = new Map<string, Set<string>>();
  const want = (chunk: string, name: string) => {
    if (!wanted.has(chunk)) wanted.set(chunk, new Set());
    wanted.get(chunk)!.add(name);
  };
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/\{([^{}]*)\}=await import\("\.\/(chunk-[\w-]+\.js)"\)/g)) {
      for (const part of m[1]!.split(',')) {
        const name = part.split(':')[0]!.trim();
        if (name) want(m[2]!, name);
      }
    }
    for (const m of text.matchAll(/\(await import\("\.\/(chunk-[\w-]+\.js)"\)\)\.(\w+)/g)) want(m[1]!, m[2]!);
  }
  assert.ok(wanted.size >= 3, `lazy imports found in the bundle: ${[...wanted.keys()].join(', ')}`);
  const missing: string[] = [];
  for (const [chunk, names] of wanted) {
    const mod = (await import(pathToFileURL(join(dir, chunk)).href)) as Record<string, unknown>;
    for (const n of names) if (!(n in mod)) missing.push(`${chunk}: ${n}`);
  }
  assert.deepEqual(missing, []);
});
