#!/bin/sh
# stop 46: the loop-lag sandbox test, base (0860526) and main alternating, 3 rounds: its line "50 changes during reconciles".
for r in 1 2 3; do for v in base main; do
  d=/work/ab46/base; [ $v = main ] && d=/work/main
  cd $d && flock /tmp/kipvs-sandbox.lock node scripts/test.js --sandbox-only --only loop-lag > /work/ab46/lag-$v-$r.log 2>&1
  echo "$v #$r $(grep -h 'changes during reconciles' /work/ab46/lag-$v-$r.log) $(grep -h '^tests:' /work/ab46/lag-$v-$r.log)" >> /work/ab46/lag-ab.txt
done; done
