// The logger: pino on stderr (stdout stays free for command output), level names and ISO times.
// `json` (default): one JSON object a line, for log collectors. `text`: one readable line each
// ("2026-12-02T21:00:00.000Z INFO  synced … key=value"), through pino-pretty, written synchronously so
// that nothing is lost when the process exits.
import { pino, type Logger } from 'pino';
import { createRequire } from 'node:module';

export type LogFormat = 'json' | 'text';

export function createLogger(level = 'info', format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { component: 'kipvs' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (format === 'text') {
    // pino-pretty is loaded only for this format (CommonJS: required, not imported, to keep this sync).
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return pino(options, pretty({
      destination: 2, sync: true, colorize: false, singleLine: true, levelFirst: false,
      translateTime: false, ignore: 'pid,hostname,component',
    }) as never);
  }
  return pino(options, pino.destination(2));
}
