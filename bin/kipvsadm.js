#!/usr/bin/env node
// kipvsadm takes ipvsadm's options: the same as "kipvs ipvsadm ...".
process.argv.splice(2, 0, 'ipvsadm');
await import('../dist/bundle/kipvs.js');
