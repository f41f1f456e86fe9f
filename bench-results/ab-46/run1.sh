#!/bin/sh
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run1.jsonl $NODE nn46.mjs "diag" 2 5000 "manifests" > run1.txt 2> run1.err
