#!/bin/sh
# stop 47 boot 1: main (cur) against main with --no-memory-reducer (nomr), new node at 10,000 through the manifests
# directory, 3 rounds alternating, both with --trace-gc (gc-*.log) and the agent at debug level (agent-*.log).
export NODE=/work/node24/package/bin/node
cd /work/ab47
JSONL=/work/ab47/run1.jsonl $NODE nn47.mjs "cur nomr" 3 10000 "manifests" > run1.txt 2> run1.err
