#!/bin/sh
# stop 46 boot 8: fixL (the manifests source logs a change only its poll found), new node at 10,000 through the
# manifests directory, 2 rounds, agent at debug level: were the slow changes of an idle agent found by the poll?
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run8.jsonl $NODE nn46.mjs "fixL" 2 10000 "manifests" > run8.txt 2> run8.err
