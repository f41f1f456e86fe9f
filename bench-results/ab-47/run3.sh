#!/bin/sh
# stop 47 boot 3: the in-process agent case at 10,000, 2 no-op reconciles, one build (4d6cfc8's dist) started
# with (nomrc) and without (mr) --no-memory-reducer, alternating, 3 rounds: did the flag slow the initial sync
# (agent-48-node24's 10,000 sync 14.9 s against agent-47's 13.0 s)?
export NODE=/work/node24/package/bin/node
cd /work/ab47
# ab.sh: ../ab-44's ab.sh (scratch /work/ab44/ab.sh) with /work/ab44 read as /work/ab47
JSONL=/work/ab47/run3.jsonl ./ab.sh "mr nomrc" 3 10000 --reconciles 2 > run3.txt 2> run3.err
