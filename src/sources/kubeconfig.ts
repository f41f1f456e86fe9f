// The kubeconfig the agent connects with. A DaemonSet must not reach the API server through the
// `kubernetes` ClusterIP (kipvs itself programs it: on a freshly booted node it would never connect), so
// it gets a kubeconfig naming the control-plane endpoint, as kubeadm gives kube-proxy one. kubeadm's
// (ConfigMap kube-proxy, kubeconfig.conf) authenticates with `tokenFile:` — the Pod's projected service
// account token, which the kubelet rotates. client-node reads only `token-file`, and only once; here both
// spellings become its file-token provider, which re-reads the file every minute, as client-go does.
import { readFileSync } from 'node:fs';
import { KubeConfig, type User } from '#client-node';
import { parse } from 'yaml';

interface RawUser { name?: string; user?: { tokenFile?: unknown; 'token-file'?: unknown; token?: unknown } }

export function loadKubeconfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const raw = parse(readFileSync(path, 'utf8')) as { users?: RawUser[] } | null;
  const tokenFiles = new Map<string, string>();
  for (const u of raw?.users ?? []) {
    const file = u?.user?.tokenFile ?? u?.user?.['token-file'];
    if (typeof u?.name === 'string' && typeof file === 'string' && file !== '' && u.user?.token === undefined) tokenFiles.set(u.name, file);
  }
  if (tokenFiles.size === 0) return kc;
  const users: User[] = kc.users.map((u) => {
    const file = tokenFiles.get(u.name);
    if (file === undefined) return u;
    const { token: _readOnce, ...rest } = u;
    return { ...rest, authProvider: { name: 'tokenFile', config: { tokenFile: file } } };
  });
  const out = new KubeConfig();
  out.loadFromOptions({ clusters: kc.clusters, users, contexts: kc.contexts, currentContext: kc.currentContext });
  return out;
}
