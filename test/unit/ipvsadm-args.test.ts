// ipvsadm's command line as kipvs parses it: popt's tokenizing, ipvsadm's checks and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Popt } from '../../src/cli/ipvsadm/popt.js';
import {
  OPTIONS, parseCommand, stringToNumber, IpvsadmExit, CMD, OPTC, FMT, AF, IPPROTO, optBit, type Lookups,
} from '../../src/cli/ipvsadm/args.js';
import { inetAton, inetPton6 } from '../../src/cli/ipvsadm/inet.js';
import { firstOption } from '../../src/cli/ipvsadm/options.js';
import { extractOutput, run } from '../../src/cli/ipvsadm/main.js';

const lookups: Lookups = {
  async hostToAddr4(name) { return name === 'vip.example' ? Uint8Array.from([10, 9, 8, 7]) : null; },
  serviceToPort(name, proto) { return name === 'http' && proto === 'tcp' ? 80 : name === 'domain' ? 53 : null; },
};

function tokens(argv: string[]) {
  const p = new Popt(argv, OPTIONS);
  const out: string[] = [];
  for (;;) {
    const r = p.getNextOpt();
    if (r.kind === 'end') break;
    if (r.kind === 'error') { out.push(`!${r.code}@${p.badOption()}`); break; }
    out.push(r.arg === null ? r.val : `${r.val}=${r.arg}`);
  }
  let a: string | null;
  while ((a = p.getArg()) !== null) out.push(`+${a}`);
  return out;
}

test('popt: clusters, attached and detached arguments, long forms, leftovers', () => {
  assert.deepEqual(tokens(['-Ln']), ['L', 'n']);
  assert.deepEqual(tokens(['-Lnt1.2.3.4:80']), ['L', 'n', 't=1.2.3.4:80']);
  assert.deepEqual(tokens(['-L', '-t=1.2.3.4:80']), ['L', 't=1.2.3.4:80']);
  assert.deepEqual(tokens(['--list', '--tcp-service=1.2.3.4:80', '--numeric']), ['L', 't=1.2.3.4:80', 'n']);
  assert.deepEqual(tokens(['--list', '--tcp-service', '-n']), ['L', 't=-n']);
  assert.deepEqual(tokens(['foo', '-L', '--', '-n', 'bar']), ['L', '+foo', '+-n', '+bar']);
  assert.deepEqual(tokens(['-L', '-']), ['L', '+-']);
  // -p takes an argument only when one follows that is not an option.
  assert.deepEqual(tokens(['-A', '-p', '-t', 'x']), ['A', 'p', 't=x']);
  assert.deepEqual(tokens(['-A', '-p', '60']), ['A', 'p=60']);
  assert.deepEqual(tokens(['-A', '-p']), ['A', 'p']);
  // A single dash never starts a long option: "-list" is -l -i -s t.
  assert.deepEqual(tokens(['-list']), ['l', 'i', 's=t']);
  // Errors name the word popt last consumed.
  assert.deepEqual(tokens(['-L', '--foo']), ['L', '!BADOPT@--foo']);
  assert.deepEqual(tokens(['-Lz']), ['L', '!BADOPT@-Lz']);
  assert.deepEqual(tokens(['-L', '-t']), ['L', '!NOARG@-t']);
  assert.deepEqual(tokens(['--list=3']), ['!UNWANTEDARG@--list=3']);
  assert.deepEqual(tokens(['-L=3']), ['!UNWANTEDARG@-L=3']);
});

test('popt: POSIXLY_CORRECT stops option parsing at the first non-option', () => {
  const p = new Popt(['-L', 'x', '-n'], OPTIONS, true);
  assert.deepEqual(p.getNextOpt(), { kind: 'option', val: 'L', arg: null });
  assert.deepEqual(p.getNextOpt(), { kind: 'end' });
  assert.equal(p.getArg(), 'x');
  assert.equal(p.getArg(), '-n');
});

async function err(argv: string[]): Promise<[number, string]> {
  try {
    await parseCommand(argv, 'ipvsadm', lookups);
  } catch (e) {
    assert.ok(e instanceof IpvsadmExit, String(e));
    return [e.code, e.stderr];
  }
  assert.fail(`parsed: ${argv.join(' ')}`);
}

test('parse: ipvsadm\'s messages and exit statuses', async () => {
  assert.deepEqual(await err(['-nL']), [255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"]);
  assert.deepEqual(await err(['-L', '--foo']), [255, '--foo: unknown option\n']);
  assert.deepEqual(await err(['-L', '-L']), [2, "invalid option `-L'\n"]);
  assert.deepEqual(await err(['-L', '--start-daemon', 'master']), [2, "invalid option `master'\n"]);
  assert.deepEqual(await err(['-L', '-n', '-n']), [2, "multiple 'numeric' options specified\n"]);
  assert.deepEqual(await err(['-L', '-c', '--stats']), [2, 'options conflicts in the list command\n']);
  assert.deepEqual(await err(['-L', '--daemon', '--persistent-conn']), [2, 'options conflicts in the list command\n']);
  assert.deepEqual(await err(['-L', '-c', '-t', '1.2.3.4:80']), [2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"]);
  assert.deepEqual(await err(['-L', '-t', '1.2.3.4:80', '-x', '3']), [2, "Illegal 'u-threshold' option with the 'list' command\n"]);
  assert.deepEqual(await err(['-S', '-c']), [2, "Illegal 'connection' option with the 'save' command\n"]);
  assert.deepEqual(await err(['-L', '-6']), [2, '-6 used before -f\n\n']);
  assert.deepEqual(await err(['-L', 'foo']), [2, 'unexpected argument foo\n']);
  assert.deepEqual(await err(['-L', '-f', '0']), [2, "invalid fwmark value `0' specified\n"]);
  assert.deepEqual(await err(['-L', '-f', '4294967296']), [2, "invalid fwmark value `4294967296' specified\n"]);
  assert.deepEqual(await err(['-L', '-t', 'nosuch.example:80']), [2, 'illegal virtual server address[:port] specified\n']);
  assert.deepEqual(await err(['-L', '-t', '1.2.3.4:nosuchport']), [2, 'illegal virtual server address[:port] specified\n']);
  assert.deepEqual(await err(['-L', '-t', '80']), [2, 'illegal virtual server address[:port] specified\n']);
  assert.deepEqual(await err(['-L', '-t', '[::1]']), [2, 'illegal virtual server address[:port] specified\n']);
  assert.deepEqual(await err(['--set', '1', '2']), [2, '--set option requires 3 timeout values\n']);
  assert.deepEqual(await err(['-A', '-t', '1.2.3.4:80', '-b', 'sh-port']), [2, "incompatible scheduler flag `sh-port'\n"]);
  assert.deepEqual(await err(['-C', '-n']), [2, "Illegal 'numeric' option with the 'flush' command\n"]);
  assert.deepEqual(await err(['-a', '-t', '1.2.3.4:80']), [2, "You need to supply the 'real-server' option for the 'add-server' command\n"]);
});

test('parse: list options become format flags; services parse as ipvsadm parses them', async () => {
  const c = await parseCommand(['-L', '-n', '--stats', '--exact', '--nosort', '-t', 'vip.example:http'], 'ipvsadm', lookups);
  assert.equal(c.cmd, CMD.LIST);
  assert.equal(c.format, FMT.NUMERIC | FMT.STATS | FMT.EXACT | FMT.NOSORT);
  assert.ok(c.options & optBit(OPTC.SERVICE));
  assert.deepEqual([c.svc.af, c.svc.protocol, [...c.svc.addr.subarray(0, 4)], c.svc.port], [AF.INET, IPPROTO.TCP, [10, 9, 8, 7], 80]);
  const v6 = await parseCommand(['-L', '-u', '[2001:db8::1]:domain'], 'ipvsadm', lookups);
  assert.deepEqual([v6.svc.af, v6.svc.port, v6.svc.addr[0], v6.svc.addr[1]], [AF.INET6, 53, 0x20, 0x01]);
  // The bracket form keeps the port only for IPv6; "[1.2.3.4]:80" is port 0 in ipvsadm.
  const b4 = await parseCommand(['-L', '-t', '[1.2.3.4]:80'], 'ipvsadm', lookups);
  assert.equal(b4.svc.port, 0);
  // A bare IPv6 address has no port.
  assert.equal((await parseCommand(['-L', '-t', '2001:db8::1'], 'ipvsadm', lookups)).svc.port, 0);
  const fw = await parseCommand(['-L', '-f', '7', '-6'], 'ipvsadm', lookups);
  assert.deepEqual([fw.svc.fwmark, fw.svc.af], [7, AF.INET6]);
  // --sort is a no-op that may repeat.
  assert.equal((await parseCommand(['-L', '--sort', '--sort'], 'ipvsadm', lookups)).format, 0);
  assert.equal(firstOption(['-hL']), 'h');
  assert.equal(firstOption(['--version']), 'v');
  assert.equal(firstOption(['-L', '-h']), 'L');
});

test('strtol and inet_aton as glibc has them', () => {
  assert.equal(stringToNumber('80', 0, 65535), 80);
  assert.equal(stringToNumber(' +80', 0, 65535), 80);
  assert.equal(stringToNumber('80x', 0, 65535), -1);
  assert.equal(stringToNumber('65536', 0, 65535), -1);
  assert.equal(stringToNumber('', 0, 65535), -1);
  assert.deepEqual([...inetAton('10.1')!], [10, 0, 0, 1]);
  assert.deepEqual([...inetAton('0x0a0a0001')!], [10, 10, 0, 1]);
  assert.deepEqual([...inetAton('010.0.0.1')!], [8, 0, 0, 1]);
  assert.deepEqual([...inetAton('10.655361')!], [10, 10, 0, 1]);
  assert.deepEqual([...inetAton('1.2.3.4 trailing')!], [1, 2, 3, 4]);
  assert.equal(inetAton('1.2.3.256'), null);
  assert.equal(inetAton('08.1.1.1'), null);
  assert.equal(inetAton('a.b.c.d'), null);
  assert.equal(inetPton6('fe80::1%eth0'), null);
  assert.equal(inetPton6('1.2.3.4'), null);
  assert.equal(inetPton6('::ffff:1.2.3.4')![10], 0xff);
});

test('--output is kipvs\' own option, taken out before ipvsadm parsing', () => {
  assert.deepEqual(extractOutput(['-Ln', '--output', 'json']), { argv: ['-Ln'], mode: 'json' });
  assert.deepEqual(extractOutput(['--output=wide', '-L']), { argv: ['-L'], mode: 'wide' });
  assert.deepEqual(extractOutput(['-L', '--', '--output', 'json']), { argv: ['-L', '--', '--output', 'json'], mode: 'text' });
  assert.ok('error' in extractOutput(['-L', '--output', 'yaml']));
});

test('-h and -v need no kernel', async () => {
  let out = '';
  const io = { out: (s: string) => { out += s; }, err: () => assert.fail('stderr'), prog: 'kipvsadm' };
  assert.equal(await run(['-v'], io), 0);
  assert.equal(out, 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n');
  out = '';
  assert.equal(await run(['--help', '-L'], io), 0);
  assert.match(out, /^ipvsadm v1\.31 .*\nUsage:\n {2}kipvsadm -A\|E virtual-service/);
  assert.match(out, / {2}--mcast-ttl ttl {21}Multicast TTL \(default=1\)\n\nkipvs extensions/);
  assert.match(out, /--output json .*\n[^]*--output wide[^]*kipvs version\n$/);
  // Under the name ipvsadm the text is ipvsadm's alone (scripts compare it byte for byte).
  out = '';
  assert.equal(await run(['-h'], { ...io, prog: 'ipvsadm' }), 0);
  assert.match(out, / {2}--mcast-ttl ttl {21}Multicast TTL \(default=1\)\n$/);
});
