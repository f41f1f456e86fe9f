// Line charts for the benchmarks: hand-written SVG (axes, ticks, grid, legend, title; linear or log
// scales), and the same chart as PNG through resvg (Rust, prebuilt binaries in npm packages; no
// browser, no cairo). Text in the PNG needs a TrueType font: resvg loads the system's fonts (Debian's
// fonts-dejavu-core is on our machines); without any the PNG still has the lines, the SVG has text.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Series {
  name: string;
  /** [x, y] points; a null y (a case that failed or was not run) leaves a gap. */
  points: [number, number | null][];
  color?: string;
  /** Draw the line dashed (a second measure of the same series, or a reference). */
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** 'auto' (the default) picks log when the positive values span more than 20x. */
  xScale?: 'linear' | 'log' | 'auto';
  yScale?: 'linear' | 'log' | 'auto';
  width?: number;
  height?: number;
  /** Optional line under the title (the kernel, the command). */
  subtitle?: string;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/** Ticks of a log axis: the powers of 10 covering [min, max], with 2 and 5 between when fewer than 3 decades. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) throw new Error(`logTicks: bad range ${min}..${max}`);
  const lo = Math.floor(Math.log10(min) + 1e-9);
  const hi = Math.ceil(Math.log10(max) - 1e-9);
  const steps = hi - lo <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const s of steps) {
      const v = Number((s * 10 ** e).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  // A range inside one decade (e.g. 3..7) has no power of 10: fall back to its ends.
  return ticks.length >= 2 ? ticks : [min, max];
}

/** About `count` "nice" ticks (1, 2, 5 x 10^k steps) covering [min, max]. */
export function linearTicks(min: number, max: number, count = 5): number[] {
  if (max === min) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** 1,000 / 2.5k / 12 ms-style tick text: short, no exponent notation. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 1 || a === 0) return trim(v);
  return String(Number(v.toPrecision(2)));
}
const trim = (v: number) => String(Number(v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)));

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Axis {
  log: boolean;
  min: number;
  max: number;
  ticks: number[];
}

/** The nearest 1, 2 or 5 x 10^k below (or above) v. */
function niceLog(v: number, dir: 'up' | 'down'): number {
  const e = Math.floor(Math.log10(v) + 1e-9);
  const cands = [1, 2, 5, 10].map((m) => Number((m * 10 ** e).toPrecision(12)));
  return dir === 'down' ? [...cands].reverse().find((c) => c <= v * (1 + 1e-9))! : cands.find((c) => c >= v * (1 - 1e-9))!;
}

function axis(values: number[], scale: 'linear' | 'log' | 'auto', zeroBased: boolean): Axis {
  const pos = values.filter((v) => v > 0);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (!values.length) return { log: false, min: 0, max: 1, ticks: [0, 1] };
  const log = scale === 'log' || (scale === 'auto' && pos.length === values.length && Math.max(...pos) / Math.min(...pos) > 20);
  if (log) {
    // Ends on 1-2-5 x 10^k just around the data (not whole decades: 120,000 would stretch to 1M).
    const lo = niceLog(Math.min(...pos), 'down');
    let hi = niceLog(Math.max(...pos), 'up');
    if (hi <= lo) hi = lo * 10;
    return { log, min: lo, max: hi, ticks: logTicks(lo, hi) };
  }
  if (zeroBased) min = Math.min(0, min);
  if (max === min) max = min + 1;
  const ticks = linearTicks(min, max);
  // Close the axis on a labelled tick: one more step when the data goes past the last.
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return { log, min: Math.min(min, ticks[0]!), max: ticks[ticks.length - 1]!, ticks };
}

/** The chart as an SVG document: one <path class="series"> per series, in the order given. */
export function lineChartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 900;
  const H = spec.height ?? 480;
  // The legend sits right of the plot, where it can hide no point.
  const legendW = 44 + Math.max(...spec.series.map((s) => s.name.length), 4) * 7.6;
  const left = 80, right = legendW + 24, top = spec.subtitle ? 64 : 48, bottom = 64;
  const pw = W - left - right, ph = H - top - bottom;
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]).filter((y): y is number => y !== null && Number.isFinite(y)));
  const X = axis(xs, spec.xScale ?? 'auto', false);
  const Y = axis(ys, spec.yScale ?? 'auto', true);
  const pos = (a: Axis, v: number) => (a.log ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min)) : (v - a.min) / (a.max - a.min));
  const px = (v: number) => left + pos(X, v) * pw;
  const py = (v: number) => top + ph - pos(Y, Math.max(v, Y.log ? Y.min : -Infinity)) * ph;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${W / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">${esc(spec.subtitle)}</text>`);
  // Grid and ticks.
  for (const t of Y.ticks) {
    const y = f(py(t));
    out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(formatTick(t))}</text>`);
  }
  for (const t of X.ticks) {
    const x = f(px(t));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + ph}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${x}" y="${top + ph + 18}" text-anchor="middle">${esc(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 18}" text-anchor="middle">${esc(spec.xLabel + (X.log ? ' (log scale)' : ''))}</text>`);
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel + (Y.log ? ' (log scale)' : ''))}</text>`);
  // Series: a path (gaps where y is null) and a marker per point.
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    let d = '';
    let pen = false;
    const marks: string[] = [];
    for (const [x, y] of [...s.points].sort((a, b) => a[0] - b[0])) {
      if (y === null || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f(px(x))} ${f(py(y))} `;
      pen = true;
      marks.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3.5" fill="${color}"/>`);
    }
    out.push(`<path class="series" data-name="${esc(s.name)}" d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(...marks);
  });
  // Legend, right of the plot.
  const lx = left + pw + 12;
  out.push(`<rect x="${lx}" y="${top}" width="${f(legendW)}" height="${spec.series.length * 18 + 8}" fill="#ffffff" stroke="#bbb"/>`);
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const y = top + 18 + i * 18;
    out.push(`<line x1="${lx + 6}" y1="${y - 4}" x2="${lx + 26}" y2="${y - 4}" stroke="${color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 32}" y="${y}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Font files resvg should load: the system's TrueType fonts if there are any. */
function fontFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 3 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
      else if (/\.(ttf|otf|ttc)$/i.test(e.name)) found.push(join(dir, e.name));
    }
  };
  walk('/usr/share/fonts', 0);
  // The regular sans face first: resvg falls back to it for the generic family.
  return found.sort((a, b) => Number(/DejaVuSans\.ttf$/.test(b)) - Number(/DejaVuSans\.ttf$/.test(a))).slice(0, 20);
}

/** Render an SVG document to PNG bytes at `scale` x its size. Throws when resvg is not installed. */
export async function svgToPng(svg: string, scale = 2): Promise<{ png: Buffer; fonts: number }> {
  const { Resvg } = (await import('@resvg/resvg-js')) as typeof import('@resvg/resvg-js');
  const files = fontFiles();
  const width = Number(/width="(\d+)"/.exec(svg)?.[1] ?? 800);
  const r = new Resvg(svg, {
    fitTo: { mode: 'width', value: Math.round(width * scale) },
    background: '#ffffff',
    font: { loadSystemFonts: false, fontFiles: files, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return { png: r.render().asPng(), fonts: files.length };
}

/** Write `<base>.svg` and `<base>.png`; returns the files written and a warning when the PNG could not be made. */
export async function writeChart(base: string, spec: ChartSpec): Promise<{ files: string[]; warning?: string }> {
  const svg = lineChartSvg(spec);
  writeFileSync(`${base}.svg`, svg);
  try {
    const { png, fonts } = await svgToPng(svg);
    writeFileSync(`${base}.png`, png);
    return { files: [`${base}.svg`, `${base}.png`], ...(fonts ? {} : { warning: 'no fonts in /usr/share/fonts: the PNG has no text (the SVG has)' }) };
  } catch (err) {
    return { files: [`${base}.svg`], warning: `PNG not written: ${(err as Error).message}` };
  }
}
