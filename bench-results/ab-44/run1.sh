#!/bin/sh
# stop 44 boot 1: the new node through the API server at 10,000, main (m0) against malloc_trim(0) every 200 ms (trim).
export NODE=/work/node24/package/bin/node
cd /work/ab44
JSONL=/work/ab44/nn1.jsonl $NODE nn.mjs "m0 trim" 3 10000 "api" > nn1.txt 2> nn1.err
