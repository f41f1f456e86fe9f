#!/bin/sh
# stop 44 boot 4: RSS over 10 no-op reconciles at 10,000, in-process case: main before the trim (m0, 05b62dc) against
# main with it (final, 414770b). agent-44's full run showed RSS after reconciles rising 115.9 -> 126.3 MB at 10,000.
export NODE=/work/node24/package/bin/node
cd /work/ab44
JSONL=/work/ab44/case4.jsonl ./ab.sh "m0 final" 2 10000 --reconciles 10 > case4.txt 2> case4.err
