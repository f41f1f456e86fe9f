#!/bin/sh
# stop 46 boot 6: cur (0860526) vs fix (this stop's code), new node at 10,000 through the manifests directory and the
# fake API server, 2 rounds alternating: its peak RSS (target <= 150 MB) and its 12 changes.
export NODE=/work/node24/package/bin/node
cd /work/ab46
mkdir -p boot6 && cd boot6 && cd ..
JSONL=/work/ab46/run6.jsonl $NODE nn46.mjs "cur fix" 2 10000 "manifests api" > run6.txt 2> run6.err
