// The commit in `kipvs version`, the start-up log line and kipvs_build_info, read from .git without git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInfo, PACKAGE_ROOT } from '../../src/version/version.js';

const A = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef';
const B = 'b'.repeat(8) + 'fedcba9876543210fedcba9876543210';

function repo(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kipvs-version-'));
  writeFileSync(join(root, 'package.json'), '{"version":"9.9.9"}');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('the commit of this checkout is the one git names', (t) => {
  let want: string;
  try {
    want = execFileSync('git', ['-C', PACKAGE_ROOT, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    t.skip('no git checkout here (an image build): build-info.json names the commit');
    return;
  }
  assert.equal(buildInfo().commit, want);
});

test('detached HEAD, a loose ref, a packed ref, a worktree and no .git at all', () => {
  const roots: string[] = [];
  const commit = (files: Record<string, string>) => { const r = repo(files); roots.push(r); return buildInfo(r).commit; };
  try {
    assert.equal(commit({ '.git/HEAD': `${A}\n` }), A.slice(0, 12));
    assert.equal(commit({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${B}\n` }), B.slice(0, 12));
    assert.equal(commit({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/packed-refs': `# pack-refs with: peeled\n${A} refs/heads/other\n${B} refs/heads/main\n` }), B.slice(0, 12));
    assert.equal(commit({
      '.git': 'gitdir: main/.git/worktrees/wt\n', 'main/.git/worktrees/wt/HEAD': 'ref: refs/heads/topic\n',
      'main/.git/worktrees/wt/commondir': '../..\n', 'main/.git/refs/heads/topic': `${A}\n`,
    }), A.slice(0, 12));
    assert.equal(commit({}), 'unknown');
    assert.equal(commit({ 'build-info.json': '{"commit":"from-image"}', '.git/HEAD': `${A}\n` }), 'from-image');
  } finally {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  }
});

test('the bundled command (bin/kipvs.js -> dist/bundle) finds the package root: its version line names this commit', () => {
  const bin = join(PACKAGE_ROOT, 'bin', 'kipvs.js');
  const info = buildInfo();
  assert.notEqual(info.version, 'unknown', 'package.json read from the modules');
  const line = execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim();
  assert.equal(line.split(' (')[0], `kipvs ${info.version}`);
  assert.match(line, new RegExp(`\\(commit ${info.commit},`));
});
