// Go's time.Duration text ("30s", "1m0s", "1h2m3.5s", "500ms", "-1.5h", "0"), as metav1.Duration
// carries it in KubeProxyConfiguration. Written from Go's documented grammar.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Nanoseconds in `text`, or null if it is not a Go duration. */
export function parseGoDurationNs(text: string): number | null {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return null;
  let total = 0;
  const re = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) return null;
    const whole = m[1] ?? '';
    const frac = m[2];
    if (whole === '' && (frac === undefined || frac === '')) return null;
    const unit = UNIT_NS[m[3]!]!;
    const value = Number(whole || '0') + (frac ? Number(`0.${frac}`) : 0);
    total += value * unit;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Milliseconds in `text`, or null. */
export function parseGoDurationMs(text: string): number | null {
  const ns = parseGoDurationNs(text);
  return ns === null ? null : ns / 1e6;
}
