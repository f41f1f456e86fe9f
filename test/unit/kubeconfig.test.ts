// The agent's kubeconfig: kubeadm's kube-proxy kubeconfig.conf (tokenFile: the projected service account
// token) authenticates against the fake API server with the token in that file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The generated API client, only to read through the kubeconfig: the whole package (the bundle keeps only
// what kipvs uses).
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { loadKubeconfig } from '../../src/sources/kubeconfig.js';

function kubeconfig(server: string, user: string): string {
  // The shape kubeadm writes into ConfigMap kube-proxy (kubeconfig.conf), with our server and token path.
  return `apiVersion: v1
kind: Config
clusters:
- cluster:
    insecure-skip-tls-verify: true
    server: ${server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
${user}
`;
}

test('tokenFile (kubeadm) and token-file: the bearer token comes from the file', async (t) => {
  const server = new FakeApiServer();
  const { url } = await server.start();
  t.after(() => server.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-kubeconfig-'));
  writeFileSync(join(dir, 'token'), 'token-one');
  for (const key of ['tokenFile', 'token-file']) {
    writeFileSync(join(dir, 'kubeconfig.conf'), kubeconfig(url, `    ${key}: ${join(dir, 'token')}`));
    const before = server.requests.length;
    await loadKubeconfig(join(dir, 'kubeconfig.conf')).makeApiClient(CoreV1Api).listNode();
    const seen = server.requests.slice(before).map((r) => r.authorization);
    assert.deepEqual(seen, ['Bearer token-one'], key);
  }
});

test('a plain token and a client without credentials are left as client-node reads them', async (t) => {
  const server = new FakeApiServer();
  const { url } = await server.start();
  t.after(() => server.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-kubeconfig-'));
  writeFileSync(join(dir, 'a.conf'), kubeconfig(url, '    token: inline-token'));
  await loadKubeconfig(join(dir, 'a.conf')).makeApiClient(CoreV1Api).listNode();
  assert.equal(server.requests.at(-1)!.authorization, 'Bearer inline-token');
  writeFileSync(join(dir, 'b.conf'), kubeconfig(url, '    {}'));
  await loadKubeconfig(join(dir, 'b.conf')).makeApiClient(CoreV1Api).listNode();
  assert.equal(server.requests.at(-1)!.authorization, undefined);
});
