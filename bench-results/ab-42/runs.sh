#!/bin/sh
# boot 1: in-process agent case then the new node, v0 against tf, alternating.
export NODE=/work/node24/package/bin/node
cd /work/ab42
JSONL=/work/ab42/case1.jsonl sh ab.sh "v0 tf" 3 10000 --lag-only --reconciles 2 > case1.txt 2> case1.err
JSONL=/work/ab42/nn1.jsonl $NODE nn.mjs "v0 tf" 2 10000 > nn1.txt 2> nn1.err
#!/bin/sh
# boot 2: the new node's peak, tf against tf with MALLOC_ARENA_MAX=2 (tfa) and with one V8 worker (tfp1); then the in-process case.
export NODE=/work/node24/package/bin/node
cd /work/ab42
JSONL=/work/ab42/nn2.jsonl $NODE nn.mjs "tf tfa tfp1" 2 10000 > nn2.txt 2> nn2.err
# ab2.sh: ../ab-41/ab.sh with an env file per variant
JSONL=/work/ab42/case2.jsonl sh ab2.sh "tf tfa tfp1" 2 10000 --lag-only --reconciles 2 > case2.txt 2> case2.err
#!/bin/sh
# boot 3: why a change during the first periodic reconcile waits seconds: the agent's debug log around it (tf + logging).
export NODE=/work/node24/package/bin/node
cd /work/ab42
JSONL=/work/ab42/nn3.jsonl $NODE nn.mjs "tfdbg" 1 10000 "manifests api" > nn3.txt 2> nn3.err
#!/bin/sh
# boot 5: the new node with both fixes (changes during the first reconcile), then the benchmark at 1k-10k.
export NODE=/work/node24/package/bin/node
cd /work/ab42
JSONL=/work/ab42/nn5.jsonl $NODE nn.mjs "fix" 2 10000 > nn5.txt 2> nn5.err
cd /work/main
$NODE --expose-gc dist/scripts/bench-agent.js --services 1000,5000,10000 --new-node --new-node-up-to 10000 --vip-binding local-route --out bench-results/agent-42-node24 > /work/ab42/bench5.out 2> /work/ab42/bench5.err
