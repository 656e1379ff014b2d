import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { ConsoleError } from './console-error.js';
import type { ConsoleClient } from './oidc-login.js';

const clientFile = z.strictObject({
  clientId: z.string().min(1).max(200),
  clientSecret: z.string().min(1).max(500),
  redirectUri: z.url(),
});

/** A fixed registration (from the environment). */
export const staticClient =
  (client: ConsoleClient): (() => Promise<ConsoleClient>) =>
  async () =>
    client;

/**
 * A registration kept in a JSON file `{clientId, clientSecret, redirectUri}` (mode 0600), written by whoever
 * registers the console (`zenmesh up` does, once the bff listens). Re-read when its modification time
 * changes; until it exists, sign-in answers that the console is not registered yet.
 */
export function fileClient(path: string): () => Promise<ConsoleClient> {
  let cached: { mtimeMs: number; client: ConsoleClient } | undefined;
  return async () => {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(path)).mtimeMs;
    } catch {
      throw new ConsoleError('ERR_CONSOLE_NOT_REGISTERED', `no console client registration at ${path}`);
    }
    if (cached?.mtimeMs === mtimeMs) return cached.client;
    const parsed = clientFile.safeParse(JSON.parse(await readFile(path, 'utf8')));
    if (!parsed.success) {
      throw new ConsoleError('ERR_CONSOLE_CONFIG', `${path}: expected {clientId, clientSecret, redirectUri}`);
    }
    cached = { mtimeMs, client: parsed.data };
    return parsed.data;
  };
}
