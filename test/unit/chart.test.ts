import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSvg, linearTicks, logTicks, formatTick, svgToPng } from '../../scripts/lib/chart.js';

test('log ticks: powers of ten over several decades, 1-2-5 steps over few', () => {
  assert.deepEqual(logTicks(100, 10_000), [100, 200, 500, 1000, 2000, 5000, 10_000]);
  assert.deepEqual(logTicks(1, 100_000), [1, 10, 100, 1000, 10_000, 100_000]);
  assert.deepEqual(logTicks(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10]);
  assert.deepEqual(logTicks(3, 7), [3, 7]); // no two ticks inside: the ends
  assert.throws(() => logTicks(0, 10));
});

test('linear ticks are nice numbers covering the range', () => {
  assert.deepEqual(linearTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(linearTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(formatTick(10_000), '10,000');
  assert.equal(formatTick(2_000_000), '2M');
  assert.equal(formatTick(1000), '1,000');
  assert.equal(formatTick(0.5), '0.5');
});

const spec = {
  title: 'sync time vs N',
  xLabel: 'Services',
  yLabel: 'ms',
  series: [
    { name: 'ipvs', points: [[100, 50], [1000, 400], [10_000, 40_000]] as [number, number | null][] },
    { name: 'iptables-partial', points: [[100, 60], [1000, null], [10_000, 90_000]] as [number, number | null][] },
    { name: 'iptables-full', points: [[100, 70], [1000, 900], [10_000, 120_000]] as [number, number | null][] },
  ],
};

test('the SVG has one path per series, a log axis where values span decades, and a legend', () => {
  const svg = lineChartSvg(spec);
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<path class="series"/g)?.length, 3);
  assert.match(svg, /Services \(log scale\)/);
  assert.match(svg, /ms \(log scale\)/);
  for (const s of spec.series) assert.ok(svg.includes(`>${s.name}</text>`), s.name);
  // The null point leaves a gap: the partial series' path starts twice.
  const partial = /data-name="iptables-partial" d="([^"]*)"/.exec(svg)![1]!;
  assert.equal(partial.match(/M/g)?.length, 2);
  // Linear when the values do not span much.
  const lin = lineChartSvg({ ...spec, series: [{ name: 'a', points: [[1, 1], [2, 2], [3, 3]] }] });
  assert.doesNotMatch(lin, /log scale/);
});

test('the PNG starts with the PNG signature', async () => {
  const { png } = await svgToPng(lineChartSvg(spec), 1);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.length > 1000);
});
