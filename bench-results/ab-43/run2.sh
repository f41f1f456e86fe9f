#!/bin/sh
# boot 2 (stop 43): the new node at 10,000: kept (e3f17f5) against gc (a memory-reducing collection when the initial lists are in), VmHWM at that point traced.
export NODE=/work/node24/package/bin/node
cd /work/ab43
JSONL=/work/ab43/nn2.jsonl $NODE nn.mjs "kept gc" 2 10000 "api manifests" > nn2.txt 2> nn2.err
