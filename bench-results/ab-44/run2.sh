#!/bin/sh
# stop 44 boot 2: main (m0) against main + malloc_trim during the first sync (mt): new node at 10,000 through the API
# server and the manifests directory (3 rounds), then the in-process agent case at 10,000 (3 rounds, one reconcile).
export NODE=/work/node24/package/bin/node
cd /work/ab44
JSONL=/work/ab44/nn2.jsonl $NODE nn.mjs "m0 mt" 3 10000 "api manifests" > nn2.txt 2> nn2.err
JSONL=/work/ab44/case2.jsonl ./ab.sh "m0 mt" 3 10000 --lag-only --reconciles 1 > case2.txt 2> case2.err
