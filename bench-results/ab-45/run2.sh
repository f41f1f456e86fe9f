#!/bin/sh
# stop 45 boot 3: in-process agent case at 10,000, initial sync and one no-op reconcile: exp2 (main + the model's
# allocation cuts) against exp3 (exp2 + plain real servers encoded from a template), alternating, 3 rounds.
export NODE=/work/node24/package/bin/node
cd /work/ab45
# ab.sh: ../ab-44/ab.sh with /work/ab44 read as /work/ab45
JSONL=/work/ab45/run2.jsonl ./ab.sh "exp2 exp3" 3 10000 --lag-only --reconciles 1 > run2.txt 2> run2.err
