#!/bin/sh
# boot 3 (stop 43): the in-process case at 10,000, v0 (80871a9) against kept (e3f17f5), alternating: the reconcile with the dump decoded in pieces.
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/case3.jsonl sh ab.sh "v0 kept" 2 10000 --lag-only --reconciles 2 > case3.txt 2> case3.err
