#!/bin/sh
# boot 5 (stop 43): a heap snapshot of the new node (API server, 10,000) after its first sync's ipsets, before its rules: what the peak holds.
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/nn5.jsonl $NODE nn.mjs "snap" 1 10000 "api" > nn5.txt 2> nn5.err
