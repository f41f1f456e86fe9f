// The fake API server's fault injection (used by the soak): 410 to the next watches, 500s for a while,
// stalled responses and events, and going away for a while on the same port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { FakeApiServer } from '../fake-apiserver/server.js';

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET; resolves with the status and the body's lines as far as they came within `ms` (a watch stays open). */
function get(url: string, ms = 300): Promise<{ status: number; lines: string[]; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      const done = () => { clearTimeout(timer); req.destroy(); resolve({ status: res.statusCode ?? 0, lines: text.split('\n').filter(Boolean) }); };
      const timer = setTimeout(done, ms);
      res.on('end', done);
    });
    req.on('error', (err) => resolve({ status: 0, lines: [], error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

async function started(t: { after(fn: () => Promise<void>): void }) {
  const api = new FakeApiServer();
  await api.start();
  t.after(() => api.stop());
  api.create(svc('a'));
  return api;
}

test('expireNextWatches: exactly the next n watches get HTTP 410, lists are not affected', async (t) => {
  const api = await started(t);
  api.expireNextWatches(2);
  assert.equal((await get(`${api.url}/api/v1/services`)).status, 200);
  for (let i = 0; i < 2; i++) {
    const w = await get(`${api.url}/api/v1/services?watch=1&resourceVersion=${api.resourceVersion}`);
    assert.equal(w.status, 410);
    assert.equal(JSON.parse(w.lines[0]!).reason, 'Expired');
  }
  assert.equal((await get(`${api.url}/api/v1/services?watch=1`)).status, 200);
});

test('fail500For: every request is 500 until the time is up, then served again', async (t) => {
  const api = await started(t);
  api.fail500For(300);
  assert.equal((await get(`${api.url}/api/v1/services`)).status, 500);
  assert.equal((await get(`${api.url}/api/v1/services?watch=1`)).status, 500);
  await sleep(350);
  assert.equal((await get(`${api.url}/api/v1/services`)).status, 200);
});

test('stallResponses: requests wait and watch events are held, then all are served in order', async (t) => {
  const api = await started(t);
  const watch = get(`${api.url}/api/v1/services?watch=1&resourceVersion=${api.resourceVersion}`, 1500);
  await sleep(100);
  api.stallResponses(500);
  api.create(svc('b'));
  const t0 = Date.now();
  const list = await get(`${api.url}/api/v1/services`, 2000);
  assert.ok(Date.now() - t0 >= 400, `the list was answered after ${Date.now() - t0} ms, within the stall`);
  assert.deepEqual(JSON.parse(list.lines[0]!).items.map((o: { metadata: { name: string } }) => o.metadata.name), ['a', 'b']);
  const w = await watch;
  assert.deepEqual(w.lines.map((l) => `${JSON.parse(l).type} ${JSON.parse(l).object.metadata.name}`), ['ADDED b']);
  assert.equal(api.requests.filter((r) => !r.watch).length, 1, 'a stalled request is recorded once');
});

test('goAwayFor: connections are refused for the time, then the same port answers', async (t) => {
  const api = await started(t);
  const away = api.goAwayFor(300);
  await sleep(50);
  assert.equal((await get(`${api.url}/api/v1/services`)).error, 'ECONNREFUSED');
  await away;
  assert.equal((await get(`${api.url}/api/v1/services`)).status, 200);
});
