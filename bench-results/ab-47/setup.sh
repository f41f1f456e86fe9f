#!/bin/sh
# stop 47: how /work/ab47 was made (evidence only; not run by CI). ab-46/setup.sh with its paths moved to
# /work/ab47 (a variant directory from a build, the agent at debug level, its stderr kept in $AGENT_LOG;
# nn46.mjs, the A/B driver), plus: the agent's node flags from $AGENT_NODE_FLAGS (comma-separated), its
# stdout (V8's --trace-gc lines) appended to $AGENT_STDOUT, and each change's write logged with the wall
# time; nn47.mjs is nn46.mjs setting AGENT_STDOUT per run (gc-VARIANT-ROUND-VIA-N.log).
#   cur = 521c304   nomr = cur, env AGENT_NODE_FLAGS=--trace-gc,--no-memory-reducer (cur: --trace-gc)
#   diag = 521c304 + diag-read-pieces.patch
# usage: setup.sh VARIANT VARIANT_SRC
set -e
v=$1; src=$2
here=$(dirname "$(readlink -f "$0")")
sed 's#/work/ab46#/work/ab47#g' "$here/../ab-46/setup.sh" | sh -s "$v" "$src"
cd /work/ab47
f="$v/dist/scripts/lib/bench-new-node.js"
sed -i "s/process.execPath, ...NODE_FLAGS\[o.heap ?? DEFAULT_HEAP\]/process.execPath, ...(process.env.AGENT_NODE_FLAGS ? process.env.AGENT_NODE_FLAGS.split(',') : []), ...NODE_FLAGS[o.heap ?? DEFAULT_HEAP]/" "$f"
sed -i "s/{ stdio: \['ignore', 'ignore', 'pipe'\] }/{ stdio: ['ignore', process.env.AGENT_STDOUT ? openSync(process.env.AGENT_STDOUT, 'a') : 'ignore', 'pipe'] }/" "$f"
sed -i "1i import { openSync } from 'node:fs';" "$f"
sed -i "s/^\(\s*\)const t1 = performance.now();/\1const t1 = performance.now(); if (process.env.AGENT_LOG) appendFileSync(process.env.AGENT_LOG, JSON.stringify({ bench: 'change written', k, time: new Date().toISOString() }) + '\\\\n');/" "$f"
sed 's#process.env.AGENT_LOG = `/work/ab47/agent-${v}-${r}-${via}-${N}.log`;#&\n  process.env.AGENT_STDOUT = `/work/ab47/gc-${v}-${r}-${via}-${N}.log`;#' nn46.mjs > nn47.mjs
