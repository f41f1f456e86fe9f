#!/bin/sh
# stop 45 boot 2: in-process agent case at 10,000, 5 no-op reconciles: cur (main 4b197c1), nomm (cur without glibc's
# mmap threshold fixed), exp2 (cur + the model's allocation cuts), alternating, 3 rounds.
export NODE=/work/node24/package/bin/node
cd /work/ab45
# ab.sh: ../ab-44/ab.sh with /work/ab44 read as /work/ab45
JSONL=/work/ab45/run1.jsonl ./ab.sh "cur nomm exp2" 3 10000 --reconciles 5 > run1.txt 2> run1.err
