// The agent's state socket (issue 11, security): created 0600 in a 0700 directory, read-only by protocol,
// refusing anything but a short GET with a 4xx, and dropping clients that are slow to send a request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateServer, fetchState, STATE_SOCKET_LIMITS, type AgentState } from '../../src/agent/state.js';

const STATE: AgentState = {
  node: 'node-a', mode: 'ipvs', source: 'test', startedAt: '2026-01-01T00:00:00Z', synced: true,
  virtualServices: [], boundAddresses: ['10.96.0.1'], draining: [], warnings: [], healthCheckNodePorts: [],
};

async function withServer(f: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-state-'));
  const path = join(dir, 'run', 'state.sock');
  const server = new StateServer(path, () => STATE);
  await server.listen();
  try {
    await f(path);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends raw bytes; resolves with everything the server sent back before closing, and how long it took. */
function raw(path: string, request: string, waitMs = 8000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock = net.connect(path);
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`server kept the connection open for ${waitMs} ms; got ${JSON.stringify(text.slice(0, 200))}`)); }, waitMs);
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => { text += c; });
    sock.on('error', () => {}); // a reset after the answer is fine
    sock.on('close', () => { clearTimeout(timer); resolve({ text, ms: Date.now() - t0 }); });
    sock.write(request);
  });
}
const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

test('state socket: 0600 in a 0700 directory it creates; GET /state answers the state', async () => {
  await withServer(async (path) => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(statSync(path).isSocket());
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
    assert.deepEqual(await fetchState(path), STATE);
  });
});

test('state socket: anything but a short GET is refused with a 4xx', async () => {
  await withServer(async (path) => {
    const cases: [string, string, number][] = [
      ['POST', 'POST /state HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}', 405],
      ['DELETE', 'DELETE /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 405],
      ['GET with a body', 'GET /state HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello', 413],
      ['GET with chunks', 'GET /state HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 413],
      ['a long URL', `GET /state?${'a'.repeat(1000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414],
      ['oversized headers', `GET /state HTTP/1.1\r\nHost: x\r\nX-Pad: ${'b'.repeat(STATE_SOCKET_LIMITS.maxHeaderBytes * 2)}\r\nConnection: close\r\n\r\n`, 431],
      ['another path', 'GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
      ['garbage', '\x00\x01\x02 not http\r\n\r\n', 400],
    ];
    for (const [what, req, want] of cases) {
      const { text } = await raw(path, req);
      assert.equal(status(text), want, `${what}: ${JSON.stringify(text.slice(0, 120))}`);
    }
    // Still serving after all that.
    assert.deepEqual(await fetchState(path), STATE);
  });
});

test('state socket: a client that does not finish its request is disconnected within the time limit', async () => {
  await withServer(async (path) => {
    const { text, ms } = await raw(path, 'GET /state HTTP/1.1\r\nHost: x\r\n');
    assert.ok(ms >= STATE_SOCKET_LIMITS.headersTimeoutMs - 100, `not before the limit (${ms} ms)`);
    assert.ok(ms < STATE_SOCKET_LIMITS.requestTimeoutMs + 2000, `closed after ${ms} ms`);
    assert.ok(text === '' || status(text) === 408, `a 408 or nothing: ${JSON.stringify(text)}`);
  });
});
