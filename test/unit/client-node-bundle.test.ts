// The client-node bundle (scripts/bundle.js) exports only what kipvs names, while its types are the whole
// package's: a name imported from "#client-node" that the bundle lacks would compile and then fail at
// run time. Every such import in the sources and tests is checked against the bundle here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { filesUnder } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const tsFiles = (dir: string): string[] => filesUnder(dir, (p) => p.endsWith('.ts') && !p.endsWith('.d.ts'));

/** Value names taken from "#client-node": `import { A, type B } from` and `const { A } = await import(`. */
function importedValues(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'#client-node'/g)) {
    if (/^import\s+type\b/.test(m[0])) continue;
    for (const part of m[1]!.split(',')) {
      const n = part.trim();
      if (n && !n.startsWith('type ')) names.push(n.split(/\s+as\s+/)[0]!);
    }
  }
  for (const m of text.matchAll(/const\s*\{([^}]*)\}\s*=\s*await\s+import\('#client-node'\)/g)) {
    for (const part of m[1]!.split(',')) if (part.trim()) names.push(part.trim().split(':')[0]!.trim());
  }
  return names;
}

test('every value imported from #client-node is exported by the bundle', async () => {
  const bundle = (await import('#client-node')) as Record<string, unknown>;
  const wanted = new Map<string, string>();
  for (const dir of ['src', 'test', 'scripts']) {
    for (const f of tsFiles(join(root, dir))) for (const n of importedValues(readFileSync(f, 'utf8'))) wanted.set(n, f);
  }
  // The sources do use it: an empty scan would pass for the wrong reason.
  assert.ok(wanted.has('KubeConfig') && wanted.has('ListWatch') && wanted.has('Watch'), [...wanted.keys()].join(', '));
  for (const [name, file] of wanted) assert.notEqual(bundle[name], undefined, `${file} imports ${name} from #client-node; scripts/bundle.js does not export it`);
});

test('the bundle is one file, not the package: its KubeConfig loads a kubeconfig', async () => {
  const { KubeConfig } = await import('#client-node');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  assert.equal(kc.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  assert.match(import.meta.resolve('#client-node'), /\/dist\/vendor\/client-node\.js$/);
});

test('the bundle leaves out whatwg-url and tr46 (node-fetch takes node:url\'s URL): no punycode deprecation warning when it loads', () => {
  const file = fileURLToPath(import.meta.resolve('#client-node'));
  const text = readFileSync(file, 'utf8');
  assert.doesNotMatch(text, /punycode|tr46|whatwg-url\/lib/, 'tr46 or whatwg-url is in the bundle');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(file)}); console.log('loaded')`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'loaded');
  assert.doesNotMatch(r.stderr, /DeprecationWarning|DEP0040/, r.stderr);
});
