#!/bin/sh
# stop 47: how /work/ab47 was made (evidence only). As ab-46/setup.sh, plus: the agent's node flags from
# $AGENT_NODE_FLAGS (comma-separated) and its stdout (V8's --trace-gc lines) appended to $AGENT_STDOUT.
# usage: setup.sh VARIANT VARIANT_SRC
set -e
v=$1; src=$2
mkdir -p /work/ab47 && cd /work/ab47
rm -rf "$v" && mkdir "$v"
cp -r "$src/dist" "$src/bin" "$src/package.json" "$v/"
ln -s /work/main/node_modules "$v/node_modules"
f="$v/dist/scripts/lib/bench-new-node.js"
sed -i 's/^async function runAgentProcess/export async function runAgentProcess/' "$f"
sed -i "s/'--conntrack-max-per-core=0', \`--state-socket/'--conntrack-max-per-core=0', '--log-level', 'debug', \`--state-socket/" "$f"
sed -i "s/createInterface({ input: child.stderr }).on('line', (l) => watcher.feed(l));/createInterface({ input: child.stderr }).on('line', (l) => { watcher.feed(l); if (process.env.AGENT_LOG) appendFileSync(process.env.AGENT_LOG, l + '\\\\n'); });/" "$f"
sed -i "s/process.execPath, ...NODE_FLAGS\[o.heap ?? DEFAULT_HEAP\]/process.execPath, ...(process.env.AGENT_NODE_FLAGS ? process.env.AGENT_NODE_FLAGS.split(',') : []), ...NODE_FLAGS[o.heap ?? DEFAULT_HEAP]/" "$f"
sed -i "s/{ stdio: \['ignore', 'ignore', 'pipe'\] }/{ stdio: ['ignore', process.env.AGENT_STDOUT ? openSync(process.env.AGENT_STDOUT, 'a') : 'ignore', 'pipe'] }/" "$f"
sed -i "1i import { appendFileSync, openSync } from 'node:fs';" "$f"
# Each change's write, in the agent's log file, with the wall time (to line up with its lines and the GC trace).
sed -i "s/^\(\s*\)const t1 = performance.now();/\1const t1 = performance.now(); if (process.env.AGENT_LOG) appendFileSync(process.env.AGENT_LOG, JSON.stringify({ bench: 'change written', k, time: new Date().toISOString() }) + '\\\\n');/" "$f"
