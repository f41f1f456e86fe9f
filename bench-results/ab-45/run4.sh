#!/bin/sh
# stop 45 boot 6: the new node at 5,000 through the manifests directory, agent at debug level, its log kept: why the
# last of 12 endpoint changes took 1.2-1.9 s in agent-44 and agent-45.
# nn45.mjs is ../ab-42/nn.mjs reading /work/ab45, each agent's stderr kept in AGENT_LOG (read by the "diag" variant's
# bench-new-node.js, which also starts the agent with --log-level debug).
export NODE=/work/node24/package/bin/node
cd /work/ab45
sed -e 's#/work/ab42/#/work/ab45/#g' \
  -e 's#^  try {$#  process.env.AGENT_LOG = `/work/ab45/agent-${v}-${r}-${via}-${N}.log`;\n  try {#' \
  /work/main/bench-results/ab-42/nn.mjs > nn45.mjs
JSONL=/work/ab45/run4.jsonl $NODE nn45.mjs "diag" 2 5000 "manifests" > run4.txt 2> run4.err
