#!/bin/sh
# stop 44 boot 5: RSS over 10 no-op reconciles at 10,000, in-process case: main with the trim and glibc's mmap threshold
# fixed at 128 KB (fix) against main before both (m0, 05b62dc).
export NODE=/work/node24/package/bin/node
cd /work/ab44
JSONL=/work/ab44/case5.jsonl ./ab.sh "fix m0" 1 10000 --reconciles 10 > case5.txt 2> case5.err
