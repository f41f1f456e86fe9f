#!/bin/sh
# stop 46 boot 2: cur / exp1 (collections wait for a waiting change) / exp2 (exp1 + the first sync's collection a plain one), new node at 5,000 via manifests, agent at debug level
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run2.jsonl $NODE nn46.mjs "cur exp1 exp2" 3 5000 "manifests" > run2.txt 2> run2.err
