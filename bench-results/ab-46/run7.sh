#!/bin/sh
# stop 46 boot 7: the new node at 10,000 through the fake API server, cur (0860526) / fix (71e65e6) / fixR (fix with the
# first sync's collection the memory-reducing one again), 2 rounds: does the plain collection raise the peak?
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run7.jsonl $NODE nn46.mjs "cur fix fixR" 2 10000 "api" > run7.txt 2> run7.err
