#!/bin/sh
# stop 46 boot 3: (1) diag = exp3 + a log line for every Pacer piece over 60 ms with the phase it ran in, new node at
# 5,000 via manifests, 3 rounds; (2) in-process agent case at 10,000, cur vs exp3, 2 rounds, 4 reconciles: memory.
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run3.jsonl $NODE nn46.mjs "diag" 3 5000 "manifests" > run3.txt 2> run3.err
# ab.sh: ../ab-41/ab.sh reading /work/ab46, its summary line also picking the RSS after the initial sync and the reconcile.
sed -e 's#/work/ab41/#/work/ab46/#g' -e 's#"afterInitialPeakRssMB",#"afterInitialPeakRssMB","afterInitialRssMB","afterReconcileRssMB",#' \
  /work/main/bench-results/ab-41/ab.sh > ab.sh && chmod +x ab.sh
JSONL=/work/ab46/run3b.jsonl NODE=$NODE ./ab.sh "cur exp3" 2 10000 --reconciles 4 > run3b.txt 2> run3b.err
