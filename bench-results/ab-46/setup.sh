#!/bin/sh
# stop 46: how /work/ab46 was made (evidence only; not run by CI). Each variant is a directory holding a build's dist/,
# bin/, package.json and a node_modules link; VARIANT_SRC is a checkout built with `npm run build`.
#   cur  = 0860526
#   exp1 = d261ff3's waiting collections, the first sync's still the memory-reducing one (and no RSS in their log line)
#   exp2 = exp1 with the first sync's collection plain (the bundle's release:!0 made !1 for it): d261ff3 less the RSS
#   diag = d261ff3 + diag-pieces.patch (logs every Pacer piece over 60 ms with its phase; patch is against 62386f3)
#   diag2 = 62386f3 + diag-pieces.patch            fix = 71e65e6
# usage: setup.sh VARIANT VARIANT_SRC
set -e
v=$1; src=$2
mkdir -p /work/ab46 && cd /work/ab46
rm -rf "$v" && mkdir "$v"
cp -r "$src/dist" "$src/bin" "$src/package.json" "$v/"
ln -s /work/main/node_modules "$v/node_modules"
# The new-node harness: runAgentProcess exported, the agent at --log-level debug, its stderr kept in $AGENT_LOG.
f="$v/dist/scripts/lib/bench-new-node.js"
sed -i 's/^async function runAgentProcess/export async function runAgentProcess/' "$f"
sed -i "s/'--conntrack-max-per-core=0', \`--state-socket/'--conntrack-max-per-core=0', '--log-level', 'debug', \`--state-socket/" "$f"
sed -i "s/createInterface({ input: child.stderr }).on('line', (l) => watcher.feed(l));/createInterface({ input: child.stderr }).on('line', (l) => { watcher.feed(l); if (process.env.AGENT_LOG) appendFileSync(process.env.AGENT_LOG, l + '\\\\n'); });/" "$f"
sed -i "1i import { appendFileSync } from 'node:fs';" "$f"
# The A/B driver: ab-42's nn.mjs reading /work/ab46, each agent's stderr in agent-VARIANT-ROUND-VIA-N.log.
sed -e 's#/work/ab42/#/work/ab46/#g' \
  -e 's#^  try {$#  process.env.AGENT_LOG = `/work/ab46/agent-${v}-${r}-${via}-${N}.log`;\n  try {#' \
  /work/main/bench-results/ab-42/nn.mjs > nn46.mjs
