#!/bin/sh
# stop 44 boot 3: the new node through the API server at 10,000: main (m0) against malloc_trim on the main thread every
# 250 ms (ms) and every 1,000 ms (ms1000) until the first sync ends (boot 2's mt trimmed on libuv's pool: first syncs slower).
export NODE=/work/node24/package/bin/node
cd /work/ab44
JSONL=/work/ab44/nn3.jsonl $NODE nn.mjs "m0 ms ms1000" 3 10000 "api" > nn3.txt 2> nn3.err
