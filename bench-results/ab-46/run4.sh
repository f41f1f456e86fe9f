#!/bin/sh
# stop 46 boot 4: diag2 = main with the wider give-way window (yields after the IPVS pass and in the ipset reconcile) + the
# Pacer long-piece lines with phase labels. New node at 5,000 via manifests, 2 rounds.
export NODE=/work/node24/package/bin/node
cd /work/ab46
JSONL=/work/ab46/run4.jsonl $NODE nn46.mjs "diag2" 2 5000 "manifests" > run4.txt 2> run4.err
