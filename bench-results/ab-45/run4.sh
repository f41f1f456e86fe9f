#!/bin/sh
# stop 45 boot 6: the new node at 5,000 through the manifests directory, agent at debug level, its log kept: why the
# last of 12 endpoint changes took 1.2-1.9 s in agent-44 and agent-45.
export NODE=/work/node24/package/bin/node
cd /work/ab45
JSONL=/work/ab45/run4.jsonl $NODE nn45.mjs "diag" 2 5000 "manifests" > run4.txt 2> run4.err
