// The soak's client, in a process of its own inside the client network namespace: WORKERS loops,
// each taking the next target in turn, one request per new connection (TCP) or new socket (UDP),
// until stdin closes. One JSON line per request:
//   {t, i, ep}                  answered by the pod ep (t: when it was sent; i: the target's index)
//   {t, i, ep, retry: 1}        UDP: the first datagram got no answer, the retry (sent at t) did
//   {t, i, ep, lateMs}          TCP: connected in time, but the pod's process answered lateMs after the
//                               usual timeout (the emulated guest starved it; the proxy's part was done)
//   {t, i, err, lost?: 1}       failed (UDP: lost = the retry failed too)
//   node client-proc.js TARGETS_JSON WORKERS PAUSE_MS     (each worker pauses PAUSE_MS between requests)
import net from 'node:net';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

interface Target { proto: 'TCP' | 'UDP'; host: string; port: number }
const targets = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Target[];
const workers = Number(process.argv[3] ?? 2);
const pauseMs = Number(process.argv[4] ?? 0);
const TCP_TIMEOUT_MS = 3000, UDP_TIMEOUT_MS = 1000;
/**
 * How long a connected TCP request waits for its answer. The handshake is the proxy's part: a SYN-ACK
 * came back through IPVS from a pod address that exists (a gone pod's address is removed, and its SYNs
 * are dropped), so the connect keeps TCP_TIMEOUT_MS. The answer is the pod process' part, and on a
 * loaded CI machine that process was seen to accept a connection more than 3 s late (IPVS and conntrack
 * then showed the client's FIN at its timeout, then the pod's answer and FIN).
 */
const TCP_ANSWER_TIMEOUT_MS = 20_000;
let stop = false;
process.stdin.resume();
process.stdin.on('end', () => { stop = true; });

/**
 * A timeout that is not fooled by this process' own stalls: the emulated guest can hold the event loop
 * for seconds, and then a timer and an answer that arrived in time are ready together, the timer's
 * phase first. So when the timer fires, I/O gets one more turn (setImmediate runs after the poll
 * phase) before `fail` is called, unless `settled()` says it was answered meanwhile. A timer that fired
 * late is said so in the error (", timer fired N ms late"): the client itself was starved then.
 */
function deadline(ms: number, settled: () => boolean, fail: (late: string) => void): NodeJS.Timeout {
  const armed = Date.now();
  return setTimeout(() => {
    const lateMs = Date.now() - armed - ms;
    setImmediate(() => { if (!settled()) fail(lateMs > 200 ? `, timer fired ${lateMs} ms late` : ''); });
  }, ms);
}

function tcpOnce(t: Target, sent: number): Promise<{ ep: string; lateMs?: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: t.host, port: t.port });
    let buf = '';
    let connected = false;
    // The local port names the connection in IPVS' table (ipvsadm -Lnc) and in the agent's conntrack work.
    const fail = (why: string) => (late: string) => { const port = s.localPort; s.destroy(); reject(new Error(`${why} (local port ${port ?? '-'}${late})`)); };
    let timer = deadline(TCP_TIMEOUT_MS, () => s.destroyed || connected, fail('timeout'));
    s.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      timer = deadline(Math.max(0, sent + TCP_ANSWER_TIMEOUT_MS - Date.now()), () => s.destroyed, fail(`connected, no answer in ${TCP_ANSWER_TIMEOUT_MS} ms`));
    });
    s.setEncoding('utf8');
    s.on('data', (c: string) => { buf += c; });
    s.on('end', () => {
      clearTimeout(timer);
      s.destroy();
      const over = Date.now() - sent - TCP_TIMEOUT_MS;
      if (buf.trim()) resolve({ ep: buf.trim(), ...(over > 0 ? { lateMs: over } : {}) });
      else reject(new Error('empty answer'));
    });
    s.on('error', (err) => { clearTimeout(timer); s.destroy(); reject(err); });
  });
}

function udpOnce(t: Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    let done = false;
    const finish = (err: Error | undefined, ep?: string) => { if (done) return; done = true; clearTimeout(timer); s.close(); if (err) reject(err); else resolve(ep!); };
    // The local port names the flow in IPVS' and conntrack's tables, as for TCP.
    const timer = deadline(UDP_TIMEOUT_MS, () => done, (late) => {
      let port: number | undefined;
      try { port = s.address().port; } catch { /* not bound: the send never went out */ }
      finish(new Error(`timeout (local port ${port ?? '-'}${late})`));
    });
    s.on('message', (m) => finish(undefined, m.toString().trim()));
    s.on('error', (err) => finish(err));
    s.send('q', t.port, t.host);
  });
}

const emit = (r: Record<string, unknown>) => process.stdout.write(JSON.stringify(r) + '\n');
let next = 0;
async function worker(): Promise<void> {
  while (!stop) {
    const i = next++ % targets.length;
    const t = targets[i]!;
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const sent = Date.now();
    if (t.proto === 'TCP') {
      try { emit({ t: sent, i, ...(await tcpOnce(t, sent)) }); } catch (err) { emit({ t: sent, i, err: (err as Error).message }); }
      continue;
    }
    try { emit({ t: sent, i, ep: await udpOnce(t) }); continue; } catch { /* one retry, on a new socket */ }
    const again = Date.now();
    try { emit({ t: again, i, ep: await udpOnce(t), retry: 1 }); } catch (err) { emit({ t: sent, i, err: (err as Error).message, lost: 1 }); }
  }
}
await Promise.all(Array.from({ length: workers }, worker));
