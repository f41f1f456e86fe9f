// pino JSON logs on stderr (stdout stays free for command output).
import { pino } from 'pino';

export function createLogger(level = 'info') {
  return pino({ level, base: { component: 'kipvs' } }, pino.destination(2));
}
