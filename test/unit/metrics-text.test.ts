// The hand-written exposition (src/agent/metrics.ts): label values escaped as the text format says
// (backslash, newline, double quote) and read back the same; labels in name order; a gauge set to a
// value reads that value, whatever it held before.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter, Gauge } from '../../src/agent/metrics.js';

/** The text format's label value, read back: \\ \n \" undone, left to right. */
function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

test('metrics text: any label value is escaped and reads back as written; two labels come in name order', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string(), fc.integer(), (a, b, n) => {
    const c = new Counter('x_total', 'x');
    c.inc({ zone: b, family: a }, n);
    const line = c.lines()[0]!;
    const m = /^x_total\{family="((?:[^"\\]|\\.)*)",zone="((?:[^"\\]|\\.)*)"\} (-?\d+)$/s.exec(line);
    assert.ok(m, line);
    assert.equal(unescape(m[1]!), a);
    assert.equal(unescape(m[2]!), b);
    assert.equal(Number(m[3]), n);
    assert.ok(!/\n/.test(line), 'a newline in a value must be written as \\n');
  }));
});

test('metrics text: a gauge set twice holds the second value; one label and none', () => {
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), (v1, v2, f) => {
    const g = new Gauge('g', 'g');
    g.set(v1, { ip_family: f });
    g.set(v2, { ip_family: f });
    g.set(v1);
    assert.equal(g.get({ ip_family: f }), v2);
    assert.equal(g.get(), v1);
    assert.equal(g.lines().length, 2);
  }));
});
