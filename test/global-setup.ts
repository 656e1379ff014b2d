// Tests run against the real Postgres and Redis (see README). Refuse to start without them, loudly,
// rather than skipping: a green run that never touched a database would be a lie.
import { Socket } from 'node:net';

const probe = (url: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`timed out connecting to ${hostname}:${port}`));
    });
    socket.once('error', reject);
    socket.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
  });

export default async function setup(): Promise<void> {
  process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  for (const [name, url] of [
    ['PostgreSQL (DATABASE_URL)', process.env.DATABASE_URL],
    ['Redis (REDIS_URL)', process.env.REDIS_URL],
  ] as const) {
    try {
      await probe(url);
    } catch (err) {
      throw new Error(
        `${name} is not reachable at ${url}: ${(err as Error).message}. The test suite needs the real servers; see README "Testing".`,
      );
    }
  }
}
