import { z } from 'zod';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** host:port, port 0-65535 (0 = pick a free port). */
export const hostPort = () =>
  z.string().refine((v) => {
    const m = HOST_PORT.exec(v);
    return m !== null && Number(m[2]) <= 65535;
  }, 'expected host:port');

/** A URL whose scheme is one of `protocols` (each with its colon, e.g. `https:`). */
const urlOf = (protocols: readonly string[], message: string) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, message);

export const httpUrl = () => urlOf(['http:', 'https:'], 'expected an http(s) URL');
export const redisUrl = () => urlOf(['redis:', 'rediss:'], 'expected a redis:// or rediss:// URL');
export const postgresUrl = () => urlOf(['postgres:', 'postgresql:'], 'expected a postgres:// URL');

/** A positive integer given as text. */
export const positiveInt = (fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a positive integer')
    .transform(Number)
    .pipe(z.number().int().positive())
    .default(fallback);

/** A comma-separated list (spaces around items ignored, empty items dropped); unset is the empty list. */
export const commaList = () =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    );
