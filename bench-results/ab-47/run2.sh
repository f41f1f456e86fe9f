#!/bin/sh
# stop 47 boot 2: diag (main + Pacer pieces over 60 ms logged with their phase), new node at 10,000 through the
# manifests directory, 2 rounds: what holds a change at the first periodic reconcile's start?
export NODE=/work/node24/package/bin/node
cd /work/ab47
JSONL=/work/ab47/run2.jsonl $NODE nn47.mjs "diag" 2 10000 "manifests" > run2.txt 2> run2.err
