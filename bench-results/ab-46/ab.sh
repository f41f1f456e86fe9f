#!/bin/sh
# A/B of the in-process agent case, variants alternating in one boot, each in a fresh namespace.
# usage (in the guest): ab.sh "v0 v1" ROUNDS N [bench args]
# Evidence only, not run by CI: each variant is a directory /work/ab46/VARIANT holding dist/, bin/, package.json, a
# node_modules link and an optional flags file; NODE picks the node binary, JSONL collects each case's whole JSON.
VARIANTS=$1; ROUNDS=$2; N=$3; shift 3
NODE=${NODE:-node}
for r in $(seq 1 "$ROUNDS"); do for v in $VARIANTS; do
  ns=ab-$r-$v
  ip netns del $ns 2>/dev/null; ip netns add $ns; ip -n $ns link set lo up
  cd /work/ab46/$v
  flags=$(cat flags 2>/dev/null || true)
  out=$(ip netns exec $ns $NODE --expose-gc --max-semi-space-size=2 $flags dist/scripts/bench-agent.js --case --services "$N" --vip-binding local-route "$@" 2>/tmp/ab-$v.err | tail -1)
  ip netns del $ns
  [ -n "$JSONL" ] && echo "$v #$r $out" >> "$JSONL"
  echo "$out" | $NODE -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const pick = ["initialSyncMs","commitMs","modelMs","bindMs","applyMs","ipsetMs","iptablesMs","initialCpuMs","initialMainUserMs","initialOtherUserMs","initialOtherSysMs","initialPeakRssMB","afterInitialPeakRssMB","afterInitialRssMB","afterReconcileRssMB","operations","initialOperations","noopReconcileMs","noopReconcileCpuMs","laterReconcileP50Ms","laterReconcileCpuP50Ms","peakRssMB"];
    const out = Object.entries(r).filter(([k, v]) => typeof v === "number" && pick.includes(k));
    console.log(process.argv[1] + " " + out.map(([k, v]) => k + "=" + Math.round(v)).join(" "));
  ' "$v #$r" || echo "$v #$r FAILED: $(tail -5 /tmp/ab-$v.err)"
  sleep 8
done; done
