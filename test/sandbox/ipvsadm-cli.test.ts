// `kipvs ipvsadm` against Debian's ipvsadm 1.31 in the same kernel, option by option: stdout, stderr
// and exit status must be identical bytes. kipvs runs in-process (node starts slowly in the sandbox);
// ipvsadm runs as a process. Names resolve through a bind-mounted /etc/hosts (guest only) so that the
// name views have content; DNS points at a closed local port so unknown addresses fail fast for both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, statSync } from 'node:fs';
import { ipvsadm, kipvs, same, type Result } from './ipvsadm-compare.js';
import { sh, shStatus, startBackend, httpGet, resetKernel, waitFor, type Backend } from './helpers.js';

function ipvsadmChroot(args: string[]): Result {
  const r = spawnSync('chroot', ['/tmp/snaproot', 'ipvsadm', ...args], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * Many ipvsadm runs in one shell (spawning is slow in the emulated guest), each compared with kipvs
 * in-process. For a state that does not move while it is read.
 */
async function sameAll(argsList: string[][], prefix = ''): Promise<void> {
  sh('rm -rf /tmp/ipvsadm-batch && mkdir -p /tmp/ipvsadm-batch');
  const script = argsList.map((a, i) => `${prefix}ipvsadm ${a.map(q).join(' ')} >/tmp/ipvsadm-batch/${i}.out 2>/tmp/ipvsadm-batch/${i}.err; echo $? >/tmp/ipvsadm-batch/${i}.rc`).join('\n');
  const t0 = Date.now();
  sh(script);
  const t1 = Date.now();
  const slow: string[] = [];
  for (const [i, args] of argsList.entries()) {
    const t = Date.now();
    const r: Result = {
      stdout: readFileSync(`/tmp/ipvsadm-batch/${i}.out`, 'utf8'),
      stderr: readFileSync(`/tmp/ipvsadm-batch/${i}.err`, 'utf8'),
      status: Number(readFileSync(`/tmp/ipvsadm-batch/${i}.rc`, 'utf8')),
    };
    const k = await kipvs(args);
    if (Date.now() - t > 500) slow.push(`${args.join(' ')}: ${Date.now() - t} ms`);
    assert.equal(k.stdout, r.stdout, `stdout of ipvsadm ${args.join(' ')}`);
    assert.equal(k.stderr, r.stderr, `stderr of ipvsadm ${args.join(' ')}`);
    assert.equal(k.status, r.status, `exit status of ipvsadm ${args.join(' ')}`);
  }
  console.log(`# ${argsList.length} runs: ipvsadm ${t1 - t0} ms, kipvs ${Date.now() - t1} ms${slow.length ? `; slow: ${slow.join(', ')}` : ''}`);
}

// twos (random two choices) came with Linux 6.2: its own test says so when this kernel lacks it.
const hasTwos = shStatus('modprobe ip_vs_twos').status === 0;
const NO_TWOS = `this kernel (${sh('uname -r').trim()}) has no ip_vs_twos: the twos scheduler came with Linux 6.2`;
const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', ...(hasTwos ? ['twos'] : [])];

/** A deterministic pseudo-random sequence, so a failure can be reproduced. */
function rng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

/** The static state: every scheduler, flag, forwarding method, family and enough services to sort. */
function staticRules(): string[] {
  const r: string[] = [];
  SCHEDULERS.forEach((s, i) => {
    const v = `10.10.0.${i + 1}:80`;
    r.push(`-A -t ${v} -s ${s}`);
    r.push(`-a -t ${v} -r 10.20.${i}.1:8080 -m -w 1`);
    r.push(`-a -t ${v} -r 10.20.${i}.2 -g -w 5 -x 100 -y 10`);
    r.push(`-a -t ${v} -r 10.20.${i}.3 -i -w 0`);
  });
  // Persistence with and without netmasks, port zero, one-packet scheduling, scheduler flags.
  r.push('-A -t 10.11.0.1:443 -s wlc -p 300 -M 255.255.255.0', '-a -t 10.11.0.1:443 -r 10.21.0.1:443 -m -w 2');
  r.push('-A -t 10.11.0.2:0 -s rr -p 10800', '-a -t 10.11.0.2:0 -r 10.21.0.2:0 -g -w 1');
  r.push('-A -t 10.11.0.9:22 -s rr -p', '-a -t 10.11.0.9:22 -r 10.21.0.9:22 -m -w 1');
  r.push('-A -u 10.11.0.3:53 -s rr -o', '-a -u 10.11.0.3:53 -r 10.21.0.3:5353 -m -w 7', '-a -u 10.11.0.3:53 -r 10.21.0.4:53 -m -w 3');
  r.push('-A --sctp-service 10.11.0.4:3868 -s sh -b sh-fallback,sh-port', '-a --sctp-service 10.11.0.4:3868 -r 10.21.0.4:3868 -m -w 1');
  r.push('-A -t 10.11.0.5:80 -s sh -b sh-port');
  r.push('-A -t 10.11.0.6:80 -s mh -b mh-port', '-a -t 10.11.0.6:80 -r 10.21.0.6:80 -m -w 1');
  r.push('-A -u 10.11.0.7:80 -s mh -b mh-fallback,mh-port -o -p 60 -M 255.255.0.0', '-a -u 10.11.0.7:80 -r 10.21.0.7:80 -m -w 1');
  r.push('-A -t 10.11.0.8:80 -s rr -b flag-1,flag-3');
  // Firewall marks, IPv4 and IPv6, one of them above 2^31 (sorts first and prints negative in ipvsadm).
  r.push('-A -f 42 -s wrr', '-a -f 42 -r 10.21.1.1:0 -m -w 3', '-a -f 42 -r 10.21.1.2:80 -g -w 1');
  r.push('-A -f 7 -6 -s rr -p 120 -M 64', '-a -f 7 -6 -r [2001:db8:7::1]:80 -m -w 1');
  r.push('-A -f 3000000000 -s lc');
  // IPv6 services; an IPv4 tunnel server in an IPv6 service; GUE and GRE tunnels.
  r.push('-A -t [2001:db8::1]:443 -s wlc -p 600', '-a -t [2001:db8::1]:443 -r [2001:db8:1::1]:443 -m -w 1');
  r.push('-a -t [2001:db8::1]:443 -r [2001:db8:1::2]:443 -g -w 4 -x 50 -y 5', '-a -t [2001:db8::1]:443 -r 10.30.0.1 -i -w 2');
  r.push('-A -u [2001:db8::53]:53 -s rr', '-a -u [2001:db8::53]:53 -r [2001:db8:53::2]:53 -m -w 1', '-a -u [2001:db8::53]:53 -r [2001:db8:53::1]:53 -m -w 1');
  r.push('-A -t 10.12.0.1:8443 -s rr', '-a -t 10.12.0.1:8443 -r 10.22.0.1 -i --tun-type gue --tun-port 6080 --tun-csum -w 1');
  r.push('-a -t 10.12.0.1:8443 -r 10.22.0.2 -i --tun-type gre --tun-nocsum -w 1', '-a -t 10.12.0.1:8443 -r 10.22.0.3 -i --tun-type gue --tun-port 5555 --tun-remcsum -w 1');
  r.push('-a -t 10.12.0.1:8443 -r 10.22.0.4 -i --tun-type ipip -w 1');
  // Addresses 2^31 apart: ipvsadm's comparators wrap, so its order is not numeric; it must still match.
  r.push('-A -t 200.1.1.1:80 -s rr', '-a -t 200.1.1.1:80 -r 10.0.0.1:80 -m', '-a -t 200.1.1.1:80 -r 200.0.0.1:80 -m', '-a -t 200.1.1.1:80 -r 130.0.0.1:80 -m', '-a -t 200.1.1.1:80 -r 10.0.0.1:79 -m');
  r.push('-A -t 128.0.0.1:80 -s rr', '-A -t 1.2.3.4:65535 -s rr', '-A -t 127.0.0.1:22 -s rr', '-a -t 127.0.0.1:22 -r 127.0.0.1:22 -m');
  // Many services in a scrambled order, so that sorting matters (addresses unique by construction).
  const next = rng(7);
  for (let i = 0; i < 60; i++) {
    const v = `10.${50 + (next() % 4)}.${i}.${1 + (next() % 250)}:${[80, 443, 8080, 53, 22, 1 + (next() % 65000)][next() % 6]}`;
    const proto = ['-t', '-u', '-t'][next() % 3];
    r.push(`-A ${proto} ${v} -s ${SCHEDULERS[next() % SCHEDULERS.length]}`);
    for (let j = 0; j < 1 + (next() % 3); j++) r.push(`-a ${proto} ${v} -r 10.${60 + j}.${i}.${1 + (next() % 250)}:${1 + (next() % 9000)} -m -w ${next() % 10}`);
  }
  return [...new Set(r)];
}

const HOSTS = `127.0.0.1 localhost
::1 localhost ip6-localhost
10.10.0.1 a-very-long-host-name-for-the-first-virtual-service.example.org
10.10.0.2 vs2.example
10.20.0.1 backend-with-a-rather-long-name.cluster.local
10.20.0.2 be2
10.21.0.3 dns-backend.example
2001:db8::1 six.example
2001:db8:1::1 a-long-ipv6-backend-name-that-goes-on-and-on.example.net
10.11.0.4 sctp.example
`;

before(() => {
  resetKernel();
  writeFileSync('/tmp/ipvsadm-cli-hosts', HOSTS);
  writeFileSync('/tmp/ipvsadm-cli-resolv.conf', 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  // Hosts from files only: the same system resolver for both tools, without DNS round trips.
  writeFileSync('/tmp/ipvsadm-cli-nsswitch.conf', readFileSync('/etc/nsswitch.conf', 'utf8').replace(/^hosts:.*$/m, 'hosts: files'));
  // The same /etc/services, from tmpfs: ipvsadm reads it again for every port it names, and the root
  // filesystem is 9p here.
  writeFileSync('/tmp/ipvsadm-cli-services', readFileSync('/etc/services'));
  sh(`mount --bind /tmp/ipvsadm-cli-hosts /etc/hosts && mount --bind /tmp/ipvsadm-cli-resolv.conf /etc/resolv.conf
      mount --bind /tmp/ipvsadm-cli-nsswitch.conf /etc/nsswitch.conf && mount --bind /tmp/ipvsadm-cli-services /etc/services`);
});

after(() => {
  shStatus('umount /etc/hosts; umount /etc/resolv.conf; umount /etc/nsswitch.conf; umount /etc/services');
  resetKernel();
});

const LIST_VARIANTS: string[][] = [
  [], ['-L'], ['-l'], ['--list'], ['-Ln'], ['-L', '-n'], ['-ln'], ['--list', '--numeric'],
  ['-Ln', '--exact'], ['-Ln', '-X'], ['-Ln', '--stats'], ['-Ln', '--stats', '--exact'], ['-Ln', '--rate'], ['-Ln', '--rate', '--exact'],
  ['-Ln', '--thresholds'], ['-Ln', '--persistent-conn'], ['-Ln', '--tun-info'], ['-Ln', '--nosort'], ['-Ln', '--sort'],
  ['-Ln', '--nosort', '--thresholds'], ['-Ln', '--stats', '--rate'], ['-Ln', '--thresholds', '--persistent-conn'],
  ['-L', '--stats'], ['-L', '--rate'], ['-L', '--thresholds'], ['-L', '--persistent-conn'], ['-L', '--nosort'], ['-L', '--tun-info'],
  ['-S'], ['-Sn'], ['-S', '-n'], ['--save', '--numeric'],
  ['-L', '--timeout'], ['-L', '--timeout', '-n'], ['-L', '--daemon'],
];

const ONE_SERVICE: string[][] = [
  ['-t', '10.10.0.1:80'], ['-t', '10.10.0.1:http'], ['-t', '10.10.0.1:www'], ['--tcp-service', '10.11.0.1:443'], ['-t', '10.11.0.2'],
  ['-u', '10.11.0.3:53'], ['-u', '10.11.0.3:domain'], ['--udp-service=10.11.0.3:53'], ['--sctp-service', '10.11.0.4:3868'],
  ['-f', '42'], ['-f', '7', '-6'], ['-f', '3000000000'], ['-t', '[2001:db8::1]:443'], ['-t', '[2001:db8::1]:https'],
  ['-u', '[2001:db8::53]:53'], ['-t', 'localhost:22'], ['-t', '127.0.0.1:ssh'], ['-t', 'vs2.example:80'], ['-t', '10.12.0.1:8443'],
  ['-t', '200.1.1.1:80'], ['-t10.10.0.3:80'], ['-t=10.10.0.3:80'], ['-t', '0x0a0a0001:80'], ['-t', '10.655361:80'],
];

test('every listing option prints what ipvsadm prints, for every scheduler, flag, family and forwarding method', async () => {
  const rules = staticRules();
  const restore = ipvsadm(['-R'], rules.join('\n') + '\n');
  assert.equal(restore.stderr, '');
  assert.equal(restore.status, 0);
  const count = sh('ipvsadm -Ln | grep -c -E "^(TCP|UDP|SCTP|FWM)"').trim();
  assert.ok(Number(count) >= 90, `state has ${count} services`);
  const EXTRAS = [[], ['-n'], ['-n', '--stats'], ['-n', '--rate', '--exact'], ['--thresholds'], ['-n', '--persistent-conn'], ['-n', '--tun-info'], ['--nosort', '-n'], ['--stats', '--exact']];
  const runs = [...LIST_VARIANTS];
  ONE_SERVICE.forEach((svc, i) => {
    runs.push(['-L', ...svc, ...EXTRAS[i % EXTRAS.length]!], ['-L', ...svc, ...EXTRAS[(i + 4) % EXTRAS.length]!]);
  });
  await sameAll(runs);
  // The table is non-trivial in the views that matter.
  const plain = await same(['-L']);
  assert.match(plain.stdout, /^TCP  a-very-long-host-name-for-th rr\n  -> backend-with-a-rather-long-n Masq /m);
  assert.match(plain.stdout, /FWM  -1294967296 lc/);
  const save = await same(['-Sn']);
  assert.match(save.stdout, /--tun-type gue --tun-port 6080 --tun-csum/);
  // Timeouts that were changed, and a sync daemon that runs.
  sh('ipvsadm --set 901 121 301');
  await same(['-L', '--timeout'], { nonEmpty: /901 121 301/ });
  sh('ipvsadm --set 900 120 300');
  // Sync daemons (the kernel refuses them while a service has servers of another family: empty it).
  resetKernel();
  sh('ip link add ipvsd0 type dummy && ip link set ipvsd0 multicast on up');
  try {
    sh('ipvsadm --start-daemon master --mcast-interface ipvsd0 --syncid 7');
    sh('ipvsadm --start-daemon backup --mcast-interface ipvsd0 --syncid 9 --mcast-port 9000 --mcast-ttl 3');
    await same(['-L', '--daemon'], { nonEmpty: /master sync daemon \(mcast=ipvsd0, syncid=7.*\n.*backup sync daemon/ });
    await same(['--list', '--daemon', '-n']);
  } finally {
    shStatus('ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup; ip link del ipvsd0');
  }
  resetKernel();
});

test('kipvs --nosort follows the kernel order and sorting follows ipvsadm with 100 services', async () => {
  const next = rng(99);
  const rules: string[] = [];
  for (let i = 0; i < 100; i++) {
    // Services spread over the whole address space (comparisons that wrap at 2^31), unique by i.
    const a = `${[10, 100, 127, 128, 129, 200, 250][next() % 7]}.${i >> 8}.${i & 255}.${1 + (next() % 250)}`;
    const port = next() % 65536 || 1;
    rules.push(`-A -t ${a}:${port} -s rr`);
    for (let j = 0; j < 2; j++) rules.push(`-a -t ${a}:${port} -r ${[10, 130, 200][next() % 3]}.${j}.${next() % 256}.1:${80 + j} -m`);
  }
  const uniq = rules;
  assert.equal(ipvsadm(['-R'], uniq.join('\n') + '\n').stderr, '');
  await sameAll([['-Ln'], ['-Ln', '--nosort'], ['-Sn'], ['-L', '--thresholds']]);
  resetKernel();
});

test('connections from real traffic: -c, --persistent-conn, --stats and --rate match ipvsadm', async () => {
  const backends: Backend[] = [startBackend('ipc1', 161), startBackend('ipc2', 162)];
  try {
    sh(`ip link add kube-ipvs0 type dummy && ip addr add 10.96.0.10/32 dev kube-ipvs0 && ip addr add 10.96.0.11/32 dev kube-ipvs0
        ipvsadm -A -t 10.96.0.10:80 -s rr && ipvsadm -A -t 10.96.0.11:80 -s rr -p 60
        for b in ${backends.map((b) => `${b.address}:${b.port}`).join(' ')}; do ipvsadm -a -t 10.96.0.10:80 -r $b -m; ipvsadm -a -t 10.96.0.11:80 -r $b -m -w 2; done`);
    for (let i = 0; i < 12; i++) await httpGet('10.96.0.10', 80);
    for (let i = 0; i < 5; i++) await httpGet('10.96.0.11', 80);
    waitFor(() => /10\.96\.0\.10:80\s+12\s/.test(sh('ipvsadm -Ln --stats --exact')), 8000, 'counters of 12 connections');
    // Connection expiry counts down between two reads, so both tools read one snapshot: ipvsadm in a
    // chroot whose /proc/net/ip_vs_conn is a copy, kipvs from the same copy.
    sh(`mkdir -p /tmp/snaproot/usr /tmp/snaproot/etc /tmp/snaproot/proc/net && cd /tmp/snaproot
        for d in bin lib lib64 sbin; do [ -e $d ] || ln -s usr/$d $d; done
        mount --bind /usr usr && mount --rbind /etc etc
        cat /proc/net/ip_vs_conn > proc/net/ip_vs_conn`);
    try {
      const snap = readFileSync('/tmp/snaproot/proc/net/ip_vs_conn', 'utf8');
      assert.match(snap, /TIME_WAIT/);
      assert.match(snap, /^TCP \S+ 0000 /m, 'persistence templates (client port 0)');
      const variants = [['-Lc', '-n'], ['-Lcn'], ['-L', '-c', '-n', '--persistent-conn'], ['-L', '-c', '--exact', '-n'], ['-L', '-c'], ['-L', '--connection', '--persistent-conn'], ['-l', '-c', '--tun-info']];
      for (const v of variants) {
        const k = await kipvs(v, '/tmp/snaproot/proc/net/ip_vs_conn');
        const r = ipvsadmChroot(v);
        assert.equal(k.stdout, r.stdout, `stdout of ipvsadm ${v.join(' ')}`);
        assert.equal(k.stderr, r.stderr, `stderr of ipvsadm ${v.join(' ')}`);
        assert.equal(k.status, r.status, `status of ipvsadm ${v.join(' ')}`);
      }
      // And kipvs reads the live table: the same connections (states move on, FIN_WAIT to TIME_WAIT:
      // compare who talks to whom). An entry may expire between the copy and this read (one did, in a
      // run on a slow guest): the live read holds no entry the copy lacks, and every entry the copy
      // gave more than 5 s beyond the time since the copy.
      const entries = (out: string) => out.split('\n').slice(2).filter(Boolean).map((l) => {
        const f = l.split(/ +/);
        const [m, sec] = f[1].split(':').map(Number);
        return { ends: f.slice(3).join(' '), expiresIn: m * 60 + sec };
      });
      const copied = entries((await kipvs(['-Lcn'], '/tmp/snaproot/proc/net/ip_vs_conn')).stdout);
      const sinceCopy = (Date.now() - statSync('/tmp/snaproot/proc/net/ip_vs_conn').mtimeMs) / 1000;
      const live = entries((await kipvs(['-Lcn'])).stdout).map((e) => e.ends);
      assert.ok(copied.length >= 17, `${copied.length} connections in the copy`);
      assert.deepEqual(live.filter((e) => !copied.some((c) => c.ends === e)), [], 'live entries the copy does not hold');
      const mustRemain = copied.filter((c) => c.expiresIn > sinceCopy + 5).map((c) => c.ends);
      assert.ok(mustRemain.length >= 10, `${mustRemain.length} copied entries still had time left`);
      assert.deepEqual(mustRemain.filter((e) => !live.includes(e)), [], `copied entries with time left (${sinceCopy.toFixed(1)} s after the copy) missing from the live read`);
    } finally {
      shStatus('cd /tmp/snaproot && umount -R etc; umount usr');
    }
    // No traffic flows now, but the last FIN/ACKs may still be folded into the totals (every 2 s):
    // wait until two reads 2.5 s apart agree, and read again if a counter moves in between anyway.
    let prev = '';
    waitFor(() => {
      const cur = sh('ipvsadm -Ln --stats --exact');
      if (cur === prev) return true;
      prev = cur;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
      return false;
    }, 20_000, 'counters to settle');
    await same(['-Ln', '--stats'], { retries: 4, nonEmpty: /10\.96\.0\.10:80\s+12\s/ });
    await same(['-Ln', '--stats', '--exact'], { retries: 4 });
    await same(['-L', '--stats', '-t', '10.96.0.11:80'], { retries: 4 });
    await same(['-Ln', '--rate'], { retries: 4 });
    await same(['-Ln', '--rate', '--exact'], { retries: 4 });
    await same(['-Ln', '--persistent-conn'], { retries: 4 });
    await same(['-Ln', '--thresholds'], { retries: 4 });
    // Zeroing one service, then all (kipvs edits; ipvsadm reads back).
    assert.equal((await kipvs(['-Z', '-t', '10.96.0.10:80'])).status, 0);
    assert.match(sh('ipvsadm -Ln --stats --exact -t 10.96.0.10:80'), /10\.96\.0\.10:80\s+0\s+0\s+0\s+0\s+0\n/);
    await same(['-Z', '-t', '10.99.0.1:80']);
  } finally {
    for (const b of backends) b.stop();
    resetKernel();
  }
});

test('errors: exit codes and messages match ipvsadm', async () => {
  sh('ipvsadm -A -t 10.0.0.1:80 -s rr');
  const cases: string[][] = [
    ['-L', '--foo'], ['-nL'], ['-L', '-t'], ['-L', '-L'], ['--list=3'], ['-Lz'], ['-L', '--start-daemon', 'master'],
    ['-L', '-c', '--stats'], ['-L', '-c', '-t', '1.2.3.4:80'], ['-L', '-t', '1.2.3.4:80'], ['-L', '-t', 'nosuchhost.invalid:80'],
    ['-L', '-t', '1.2.3.4:nosuchport'], ['-L', '-t', '80'], ['-L', '-t', '[::1]'], ['-L', '-t', '[::1:80'], ['-L', '-f', '0'], ['-L', '-f', 'x'],
    ['-L', '-f', '4294967296'], ['-L', '-6'], ['-L', 'foo'], ['-L', '-t', '1.2.3.4:80', '-x', '3'], ['-L', '--timeout', '--stats'],
    ['-L', '--daemon', '--persistent-conn'], ['-S', '-c'], ['-L', '-h'], ['-L', '-n', '-n'], ['-p'], ['--timeout'], ['-t', '1.2.3.4:80', '-L'],
    ['-L', '-u', '[::1]:53'], ['-L', '--sctp-service', '1.2.3.4:80'], ['-L', '-f', '5', '-6'], ['-L', '--stats=1'], ['-L', '-n=x'],
    ['-L', '--timeout', '--daemon'], ['-L', '-c', '--timeout'], ['-S', '--stats'], ['-L', '--', '-n'], ['-L', '-'], ['-Ln', '-t', '10.0.0.1:65536'],
    ['-L', '-t', '10.0.0.1:-1'], ['-L', '-t', '10.0.0.1:+80'], ['-Z', '-t', '10.0.0.2:80'], ['-L', '--set'], ['--set', '1', '2'],
    ['-L', '-s', 'rr'], ['-L', '-6', '-f', '1'], ['-C', '-n'], ['-Z', '-c'],
  ];
  await sameAll(cases);
  resetKernel();
});

test('-h and -v print what ipvsadm prints', async () => {
  await sameAll([['-h'], ['--help'], ['-v'], ['--version'], ['-h', '-L'], ['-hL'], ['-vn']]);
});

test('--output json and wide carry every field, sorted like the text listing', async () => {
  sh(`ipvsadm -A -t 10.0.0.2:80 -s wrr -p 30 && ipvsadm -a -t 10.0.0.2:80 -r 10.1.0.2:8080 -m -w 3 -x 9 -y 2
      ipvsadm -A -t 10.0.0.1:80 -s sh -b sh-port && ipvsadm -A -f 9 -6 -s rr && ipvsadm -a -t 10.0.0.2:80 -r 10.1.0.1:8080 -i --tun-type gue --tun-port 7000 --tun-csum`);
  try {
    const j = await kipvs(['-Ln', '--output', 'json']);
    assert.equal(j.status, 0, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.schema, 'kipvs.ipvsadm/v1');
    assert.equal(doc.kind, 'services');
    assert.deepEqual(doc.services.map((s: { address: string | null; fwmark: number | null }) => s.address ?? `fwm${s.fwmark}`), ['10.0.0.1', '10.0.0.2', 'fwm9']);
    const svc = doc.services[1];
    assert.deepEqual(svc.persistent, { timeout: 30, netmask: '255.255.255.255' });
    assert.deepEqual(doc.services[0].schedulerFlags, ['sh-port']);
    assert.equal(doc.services[2].family, 'inet6');
    assert.deepEqual(svc.servers.map((d: { address: string }) => d.address), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(svc.servers[0].tunnel, { type: 'gue', port: 7000, checksum: 'csum' });
    assert.equal(svc.servers[1].upperThreshold, 9);
    assert.equal(typeof svc.stats.conns, 'number');
    const t = JSON.parse((await kipvs(['-L', '--timeout', '--output=json'])).stdout);
    assert.deepEqual(t.timeout, { tcp: 900, tcpFin: 120, udp: 300 });
    const c = JSON.parse((await kipvs(['-Lcn', '--output', 'json'])).stdout);
    assert.equal(c.kind, 'connections');
    assert.ok(Array.isArray(c.connections));
    const w = await kipvs(['-Ln', '--output', 'wide']);
    const lines = w.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PROT\s+VIRTUAL\s+SCHED/);
    assert.equal(lines.length, 1 + 3 + 2);
    assert.match(w.stdout, /10\.0\.0\.2:80\s+wrr\s+-\s+30\/255\.255\.255\.255\s+10\.1\.0\.1:80\s+tunnel\s+gue:7000:csum\s+1\s/);
    const bad = await kipvs(['-Ln', '--output', 'yaml']);
    assert.equal(bad.status, 2);
  } finally {
    resetKernel();
  }
});

test('the twos scheduler (Linux 6.2 and later): added and listed as ipvsadm does', { skip: hasTwos ? false : NO_TWOS }, async () => {
  sh('ipvsadm -C');
  const k = await kipvs(['-A', '-t', '10.12.0.1:80', '-s', 'twos']);
  assert.equal(k.status, 0, k.stderr);
  assert.equal(sh('ipvsadm -Sn'), '-A -t 10.12.0.1:80 -s twos\n');
  await same(['-Ln']);
  sh('ipvsadm -C');
});
