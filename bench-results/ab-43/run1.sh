#!/bin/sh
# boot 1 (stop 43): the new node at 10,000, v0 (HEAD 80871a9) against kept (the service dump decoded in pieces), alternating.
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/nn1.jsonl $NODE nn.mjs "v0 kept" 2 10000 > nn1.txt 2> nn1.err
