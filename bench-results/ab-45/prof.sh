#!/bin/sh
# stop 45: CPU profiles of the in-process initial sync at 10,000 (cur = main 4b197c1, exp = allocation cuts in the model)
export NODE=/work/node24/package/bin/node
cd /work/ab45
for r in 1 2; do for v in cur exp; do
  ns=prof-$r-$v; ip netns add $ns; ip -n $ns link set lo up
  cd /work/ab45/$v
  ip netns exec $ns $NODE --expose-gc --max-semi-space-size=2 dist/scripts/bench-agent.js --case --services 10000 --vip-binding local-route --lag-only --reconciles 1 --cpu-profile /work/ab45/prof-$v-$r > /work/ab45/prof-$v-$r.json 2> /work/ab45/prof-$v-$r.err
  ip netns del $ns; cd /work/ab45
  echo "$v #$r $(tail -c 2000 prof-$v-$r.json | tr -d '\n' | grep -o '"initialSyncMs":[0-9]*\|"initialCommitWallMs":[0-9]*\|"initialCpuMs":[0-9]*\|"initialMainUserMs":[0-9]*' | tr '\n' ' ')"
  sleep 5
done; done
