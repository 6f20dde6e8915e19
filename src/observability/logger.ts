import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs. Redaction is a backstop: code must not log secrets in the first place,
 * but an `authorization` header, a key or a signed link that slips into a log line is
 * censored here rather than shipped to a log store.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'custody' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          'req.headers.authorization',
          'token',
          'key',
          'secret',
          'clientSecret',
          'clientCertificatePem',
          'url',
          '*.token',
          '*.key',
          '*.secret',
          '*.clientSecret',
          '*.clientCertificatePem',
          '*.url',
          'credential',
          '*.credential',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything (CLI tools, tests). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
