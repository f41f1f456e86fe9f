#!/bin/sh
# stop 45 boot 5: in-process agent case at 10,000, initial sync and one no-op reconcile: exp3 (19c10a3, main's code)
# against ahead (19c10a3 + stop 41's apply-ahead.patch: the first sync's IPVS operations sent while the commit computes),
# alternating, 3 rounds.
export NODE=/work/node24/package/bin/node
cd /work/ab45
# ab.sh: ../ab-44/ab.sh with /work/ab44 read as /work/ab45
JSONL=/work/ab45/run3.jsonl ./ab.sh "exp3 ahead" 3 10000 --lag-only --reconciles 1 > run3.txt 2> run3.err
