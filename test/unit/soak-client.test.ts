// The soak's client process (test/soak/client-proc.ts) against a local pod stand-in whose answer comes
// after the client's usual 3-s timeout: a connection made in time waits for the answer and is marked
// late, not failed (the pod's process was starved; the proxy's part, the handshake, was done).
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const clientProc = fileURLToPath(new URL('../soak/client-proc.js', import.meta.url));

test('soak client: a TCP answer 3.8 s after connecting is answered late, with how late; a refused connection fails', async () => {
  const server = net.createServer((s) => { setTimeout(() => s.end('10.244.0.9\n'), 3800); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const dir = mkdtempSync(join(tmpdir(), 'soak-client-'));
  try {
    writeFileSync(join(dir, 't.json'), JSON.stringify([{ proto: 'TCP', host: '127.0.0.1', port: closedPort }, { proto: 'TCP', host: '127.0.0.1', port }]));
    const child = spawn(process.execPath, [clientProc, join(dir, 't.json'), '1', '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const records: Record<string, unknown>[] = [];
    const lines = createInterface({ input: child.stdout! });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve) => lines.on('line', (l) => {
      records.push(JSON.parse(l) as Record<string, unknown>);
      if (records.some((r) => r['i'] === 1)) { child.stdin!.end(); resolve(); }
    }));
    await exited;
    const late = records.find((r) => r['i'] === 1)!;
    assert.equal(late['ep'], '10.244.0.9');
    assert.equal(late['err'], undefined);
    assert.ok(typeof late['lateMs'] === 'number' && late['lateMs'] >= 600 && late['lateMs'] < 5000, `lateMs ${String(late['lateMs'])}`);
    const refused = records.find((r) => r['i'] === 0)!;
    assert.match(String(refused['err']), /ECONNREFUSED/);
    assert.equal(refused['ep'], undefined);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
