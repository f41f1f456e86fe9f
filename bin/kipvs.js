#!/usr/bin/env -S node --max-semi-space-size=2 --no-memory-reducer
// The command as bundled by scripts/bundle.js (npm run build): a few files instead of ~200 modules.
import '../dist/bundle/kipvs.js';
