// The layering of shared/design.md, checked on the sources: every relative import points to the same
// layer or one below it. A new upward import (the model reaching into a backend, netlink into ipvs)
// fails here with the file and the import named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { filesUnder } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Lower numbers are lower layers; a file may import its own layer and those below. */
const LAYER: Record<string, number> = {
  'native-bindings': 0,
  netlink: 1, version: 1, loop: 1, runtime: 1,
  ipvs: 2, link: 2, ipset: 2, iptables: 2, conntrack: 2, nftables: 2,
  model: 3, config: 3, sources: 3,
  backends: 4,
  sync: 5,
  agent: 6, inspect: 6,
  cli: 7,
};

function layerOf(path: string): string {
  const rel = relative(root, path).split('/');
  return rel[0] === 'native-bindings' ? 'native-bindings' : rel[1]!;
}

const sources = (dir: string): string[] => filesUnder(dir, (p) => p.endsWith('.ts'));

test('imports go one way: cli → agent → sync → backends → model → kernel clients → netlink → native bindings', () => {
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'native-bindings'))];
  assert.ok(files.length > 50, `found ${files.length} source files under ${root}`);
  const upward: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    assert.ok(from in LAYER, `${relative(root, file)}: folder ${from} has no layer in this test`);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const to = layerOf(normalize(join(dirname(file), m[1]!)));
      if (LAYER[to]! > LAYER[from]!) upward.push(`${relative(root, file)} imports ${m[1]} (${from} → ${to})`);
    }
  }
  assert.deepEqual(upward, []);
});
