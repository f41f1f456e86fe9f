#!/bin/sh
# boot 4 (stop 43): the old generation's growth until the first sync ends: 50% (kept, shipped) against 35% and 20%.
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/nn4.jsonl $NODE nn.mjs "kept g35 g20" 2 10000 "api" > nn4.txt 2> nn4.err
JSONL=/work/ab43/case4.jsonl sh ab.sh "kept g35 g20" 2 10000 --lag-only --reconciles 1 > case4.txt 2> case4.err
