#!/bin/sh
# boot 6 (stop 43): the new node through the API server at 10,000, kept against tp2 (UV_THREADPOOL_SIZE=2: libuv's pool, and its threads' malloc arenas, halved).
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/nn6.jsonl $NODE nn.mjs "kept tp2" 3 10000 "api" > nn6.txt 2> nn6.err
