// node:http for the agent's servers and the API-server requests, taken with process.getBuiltinModule
// rather than an ES import. An ES import of a built-in builds the module's namespace, which reads every
// export, and on Node 22 and 24 node:http has lazy ones (WebSocket and its events) that load undici,
// tls and http2. Measured on this host, Node 24.22.3, a process that loads dist/src/agent/agent.js and
// runs two full collections: 74.1-74.7 MB of RSS with the ES import, 67.5-68.0 MB so (heap used 8.9
// against 7.3 MB). Loading node:http alone grows RSS by 14.1 MB imported, 1.8 MB so (Node 22.23.5:
// 10.6 and 1.1 MB; Node 20.20.2: 1.0 MB either way). scripts/bundle.js does the same for the bundled
// dependencies' imports of it; test/unit/builtin-imports.test.ts keeps both so.
import type * as Http from 'node:http';

export const http: typeof Http = process.getBuiltinModule('node:http');
