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

/**
 * One watch request through the bundle's Watch (node-fetch underneath) in a child process, to a server
 * on `host` that answers one event: what the child printed (the event's path, or the error) and its stderr.
 */
function watchInChild(host: string, serve: boolean): { status: number | null; stdout: string; stderr: string } {
  const file = fileURLToPath(import.meta.resolve('#client-node'));
  const script = `
    import http from 'node:http';
    const { KubeConfig, Watch } = await import(${JSON.stringify(file)});
    const host = ${JSON.stringify(host)};
    const srv = http.createServer((req, res) => res.end(JSON.stringify({ type: 'ADDED', object: { metadata: { name: req.url } } }) + '\\n'));
    await new Promise((r) => srv.listen(0, host, r));
    const port = ${serve ? 'srv.address().port' : '(srv.close(), 1)'};
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://' + (host.includes(':') ? '[' + host + ']' : host) + ':' + port, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const out = await new Promise((resolve) => new Watch(kc).watch('/api/v1/services', { labelSelector: '!a' }, (type, obj) => resolve(type + ' ' + obj.metadata.name), (err) => err && resolve('error: ' + err.message)));
    console.log(out);
    srv.close();
    process.exit(0);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
}

const ipv6Loopback = (() => {
  const r = spawnSync(process.execPath, ['-e', "require('node:net').createServer().listen(0, '::1', function () { this.close(); }).on('error', () => process.exit(3))"], { timeout: 10_000 });
  return r.status === 0;
})();

test('node-fetch in the bundle parses URLs with URL, not url.parse (Node 24 warns, DEP0169, at every agent start)', () => {
  const text = readFileSync(fileURLToPath(import.meta.resolve('#client-node')), 'utf8');
  assert.doesNotMatch(text, /\b[Uu]rl\d*\.parse\(/, 'a url.parse() call is in the bundle');
  // Requests still go where they should, and a failed one still names its URL (node-fetch's request.url).
  const ok = watchInChild('127.0.0.1', true);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'ADDED /api/v1/services?watch=true&labelSelector=%21a');
  assert.doesNotMatch(ok.stderr, /DeprecationWarning|DEP0169/, ok.stderr);
  const refused = watchInChild('127.0.0.1', false);
  assert.equal(refused.status, 0, refused.stderr);
  assert.match(refused.stdout, /^error: request to http:\/\/127\.0\.0\.1:1\/api\/v1\/services\?watch=true&labelSelector=%21a failed, reason: .*ECONNREFUSED/);
});

test('node-fetch in the bundle reaches an API server at an IPv6 address (brackets in the URL, none in the socket address)', { skip: ipv6Loopback ? false : 'no IPv6 loopback on this machine' }, () => {
  const ok = watchInChild('::1', true);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'ADDED /api/v1/services?watch=true&labelSelector=%21a');
  const refused = watchInChild('::1', false);
  assert.equal(refused.status, 0, refused.stderr);
  assert.match(refused.stdout, /^error: request to http:\/\/\[::1\]:1\/api\/v1\/services\?watch=true&labelSelector=%21a failed, reason: .*ECONNREFUSED/);
});
