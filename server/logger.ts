import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

/** JSON lines on stdout. Authorization headers and passwords are redacted wherever they appear. */
export function createLogger(level: Config['logLevel'], destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['*.authorization', '*.password', '*.headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}
