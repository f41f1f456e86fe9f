// What this kipvs is: its version, the git commit it was built from, and where it runs (Node, kernel).
// Shown by `kipvs version`, `kipvs <command> --version`, the agent's start-up log line and the
// kipvs_build_info metric, so an operator can tell which build programmed a node.
//
// The commit comes from build-info.json at the package root when present (the image build writes it,
// since an image holds no .git), else from git in the checkout, else "unknown".
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  commit: string;
  node: string;
  kernel: string;
}

/** The package root: dist/src/version/version.js is three levels below it. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function gitCommit(root: string): string | undefined {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim() || undefined;
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
