// What this kipvs is: its version, the git commit it was built from, and where it runs (Node, kernel).
// Shown by `kipvs version`, `kipvs <command> --version`, the agent's start-up log line and the
// kipvs_build_info metric, so an operator can tell which build programmed a node.
//
// The commit comes from build-info.json at the package root when present (the image build writes it,
// since an image holds no .git), else from the checkout's .git, else "unknown".
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  commit: string;
  node: string;
  kernel: string;
}

/**
 * The package root: the nearest folder above this module holding kipvs' package.json. This module is
 * dist/src/version/version.js, or part of a chunk in dist/bundle (scripts/bundle.js).
 */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (readJson(join(dir, 'package.json'))?.name === 'kipvs') return dir;
    if (dirname(dir) === dir) return join(from, '..', '..', '..');
  }
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * The checked-out commit, read from the .git directory itself: running `git` would cost the agent a
 * child process at every start (seconds in an emulated guest) and needs git installed.
 */
function gitCommit(root: string): string | undefined {
  try {
    let gitDir = join(root, '.git');
    // A worktree's .git is a file naming its git directory; its refs live in the common directory.
    if (statSync(gitDir).isFile()) {
      const to = /^gitdir: (.+)$/m.exec(readFileSync(gitDir, 'utf8'))?.[1];
      if (!to) return undefined;
      gitDir = resolve(root, to.trim());
    }
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head.slice(0, 12);
    const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
    if (!ref) return undefined;
    const commonFile = join(gitDir, 'commondir');
    const common = existsSync(commonFile) ? resolve(gitDir, readFileSync(commonFile, 'utf8').trim()) : gitDir;
    for (const dir of [gitDir, common]) {
      const loose = join(dir, ref);
      if (existsSync(loose)) return readFileSync(loose, 'utf8').trim().slice(0, 12) || undefined;
    }
    const packed = readFileSync(join(common, 'packed-refs'), 'utf8');
    return packed.split('\n').find((l) => l.endsWith(` ${ref}`))?.slice(0, 12);
  } catch {
    return undefined;
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(root = PACKAGE_ROOT): BuildInfo {
  if (cached && root === PACKAGE_ROOT) return cached;
  const pkg = readJson(join(root, 'package.json'));
  const built = readJson(join(root, 'build-info.json'));
  const info: BuildInfo = {
    version: typeof pkg?.version === 'string' ? pkg.version : 'unknown',
    commit: (typeof built?.commit === 'string' && built.commit) || gitCommit(root) || 'unknown',
    node: process.version,
    kernel: release(),
  };
  if (root === PACKAGE_ROOT) cached = info;
  return info;
}

/** "kipvs 0.1.0 (commit 0123456789ab, node v20.20.2, kernel 6.1.0-57-amd64)" */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `kipvs ${info.version} (commit ${info.commit}, node ${info.node}, kernel ${info.kernel})`;
}
