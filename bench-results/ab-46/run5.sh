#!/bin/sh
# stop 46 boot 5: cur (0860526) vs fix (this stop's code: collections, wider give-way window, pieces), new node at
# 5,000 via the manifests directory, agent at debug level, 3 rounds alternating.
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run5.jsonl $NODE nn46.mjs "cur fix" 3 5000 "manifests" > run5.txt 2> run5.err
