// Placeholder until the ipvsadm-compatible CLI lands (issue 3).
export function main(_argv: string[]): number {
  process.stderr.write('kipvs ipvsadm: not built yet\n');
  return 1;
}
