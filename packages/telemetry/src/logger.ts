import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino censors before a line is written. Secrets must never reach logs (CONVENTIONS.md): headers that
 * carry credentials, and every field name we use for key material, one and two levels deep.
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const headers = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-zenmesh-signature'];
  const fields = [
    'secret',
    'secrets',
    'signingSecret',
    'signing_secret',
    'signingSecrets',
    'apiKey',
    'api_key',
    'token',
    'accessToken',
    'refreshToken',
    'password',
    'privateKey',
    'keyPem',
    'masterKey',
  ];
  const paths: string[] = [];
  for (const h of headers) {
    paths.push(`headers["${h}"]`, `req.headers["${h}"]`, `request.headers["${h}"]`, `*.headers["${h}"]`);
  }
  for (const f of fields) paths.push(f, `*.${f}`, `*.*.${f}`);
  return paths;
})();

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const opts = {
    name: service,
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
