#!/usr/bin/env node
// The second half of `npm run build`: @kubernetes/client-node as one file, dist/vendor/client-node.js,
// which the code loads through the package's "#client-node" import (package.json "imports"); then the
// kipvs command as a few files, dist/bundle (see the second build below).
//
// Why: client-node's index loads about 830 module files (its whole generated API and model classes).
// Measured in the sandbox (emulated, root over 9p; `node -e 0` alone takes 6 s there), importing it took
// 35-48 s; this bundle of the parts kipvs uses took 9-11 s. On this machine the import costs 1.0 s and
// 117 MB of RSS as files, 0.5 s and 62 MB as this bundle: every agent start on a real node gains too.
// Only what kipvs names is exported, so esbuild leaves out the APIs it never calls; a host test
// (test/unit/client-node-bundle.test.ts) checks that every name imported from "#client-node" is here.
// Types still come from the package itself, through types/client-node.d.ts (the "types" condition).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * What src/ and test/ import from "#client-node" (values only; types are erased), each from the module of
 * client-node's dist/ that defines it: the package's index also brings in what only it imports (exec,
 * attach, cp, port-forward: ws, tar-fs, streamx), about 140 KB of the bundle.
 */
const CLIENT_NODE_EXPORTS = {
  'dist/config.js': ['KubeConfig'],
  'dist/cache.js': ['ListWatch'],
  'dist/watch.js': ['Watch'],
  'dist/informer.js': ['ADD', 'UPDATE', 'DELETE', 'ERROR'],
};

/**
 * node-fetch 2 parses URLs with node:url's URL and falls back to the whatwg-url package only where node
 * has none; that package and tr46's Unicode mapping table (about 300 KB of the bundle, ~2 MB of heap once
 * loaded on Node 24) were loaded for nothing, and tr46's require of node:punycode printed a deprecation
 * warning at every agent start.
 */
const whatwgUrlAsNodes = {
  name: 'whatwg-url-as-node-url',
  setup(b) {
    b.onResolve({ filter: /^whatwg-url$/ }, () => ({ path: 'whatwg-url', namespace: 'kipvs-whatwg-url' }));
    b.onLoad({ filter: /.*/, namespace: 'kipvs-whatwg-url' }, () => ({ contents: 'export default { URL: globalThis.URL };', loader: 'js' }));
  },
};

/**
 * node-fetch 2 (client-node's HTTP client) turns every request's URL into node:url's legacy object with
 * url.parse(), which Node 24 deprecates with a warning (DEP0169, "security implications") printed at
 * every agent start: node warns for callers outside node_modules, and this bundle is one. Here that
 * object comes from the WHATWG parser instead (url.urlToHttpOptions: the fields http.request reads,
 * IPv6 hosts without brackets as url.parse gave them), and the request's URL is that parser's href.
 * A string that is no absolute URL gives an object without protocol, which node-fetch refuses later
 * with its own message, as before. The build fails if node-fetch's lines change.
 */
const NODE_FETCH_LEGACY_PARSE = 'const parse_url = Url.parse;\nconst format_url = Url.format;';
const NODE_FETCH_WHATWG_PARSE = [
  'const parse_url = (text) => {',
  '\tlet parsed;',
  '\ttry { parsed = new Url.URL(text); } catch { return { href: text, protocol: null, hostname: null }; }',
  '\treturn Object.assign(Url.urlToHttpOptions(parsed), { host: parsed.host });',
  '};',
  'const format_url = (parsed) => parsed.href;',
].join('\n');
const nodeFetchWithoutUrlParse = {
  name: 'node-fetch-without-url-parse',
  setup(b) {
    b.onLoad({ filter: /[\\/]node-fetch[\\/]lib[\\/]index\.m?js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(NODE_FETCH_LEGACY_PARSE)) throw new Error(`${args.path}: node-fetch's url.parse lines are not there any more; see nodeFetchWithoutUrlParse in scripts/bundle.js`);
      return { contents: text.replace(NODE_FETCH_LEGACY_PARSE, NODE_FETCH_WHATWG_PARSE), loader: 'js' };
    });
  },
};

/**
 * node:http, wherever a bundled dependency imports it (client-node, node-fetch), read through
 * process.getBuiltinModule instead of an ES import: on Node 22 and 24 the ES import's namespace reads
 * http's lazy exports, which load undici, tls and http2 (about 6 MB of RSS kept after full collections
 * on Node 24; src/runtime/http.ts has the figures). esbuild fails the build if a dependency imports a name not listed here.
 */
const httpByGetBuiltin = {
  name: 'node-http-by-getBuiltinModule',
  setup(b) {
    // ES imports only: a require() of it (CommonJS dependencies) costs nothing more and stays as it is.
    b.onResolve({ filter: /^(node:)?http$/ }, (args) => (args.kind === 'import-statement' ? { path: 'node:http', namespace: 'kipvs-http' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'kipvs-http' }, () => ({
      contents: "const http = process.getBuiltinModule('node:http'); export default http; export const { STATUS_CODES } = http;",
      loader: 'js',
    }));
  },
};

/** What both bundles share. */
const common = {
  plugins: [httpByGetBuiltin],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Whitespace and syntax only: names stay readable in stack traces and V8 profiles.
  minifyWhitespace: true,
  minifySyntax: true,
  // Some dependencies are CommonJS and call require(): give the ES module one.
  banner: { js: "import { createRequire as __kipvsCreateRequire } from 'node:module'; const require = __kipvsCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'eof',
};

await build({
  ...common,
  plugins: [...common.plugins, whatwgUrlAsNodes, nodeFetchWithoutUrlParse],
  stdin: {
    contents: Object.entries(CLIENT_NODE_EXPORTS).map(([file, names]) => `export { ${names.join(', ')} } from '@kubernetes/client-node/${file}';\n`).join(''),
    resolveDir: root,
    sourcefile: 'client-node-entry.js',
  },
  outfile: join(root, 'dist', 'vendor', 'client-node.js'),
});

// The kipvs command itself as a few files, dist/bundle/ (bin/kipvs.js and bin/kipvsadm.js load it):
// every start of a process read and compiled about 200 module files (77 of kipvs, 73 of yaml, about 40 of
// pino and its helpers), resolving each through package.json lookups. A --cpu-prof of a `kipvs agent
// --manifests` start in the sandbox put about half of its 28 s (profiled) to a first sync into loading
// modules (CommonJS wrapping, module stat and read, URL and path resolution). Code split: what the
// command imports lazily (the agent, inspect, ipvsadm's execute, prom-client) stays a chunk loaded on
// demand. Left out: koffi (a native addon), pino-pretty (loaded by require only for --log-format pretty)
// and client-node (its own bundle above, loaded only by the API-server source through "#client-node").
// Chunk names carry a content hash: the folder is emptied first so that old chunks do not pile up.
rmSync(join(root, 'dist', 'bundle'), { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { kipvs: join(root, 'dist', 'src', 'cli', 'main.js') },
  splitting: true,
  external: ['koffi', 'pino-pretty', '#client-node'],
  outdir: join(root, 'dist', 'bundle'),
  chunkNames: 'chunk-[hash]',
});
