import { type Command, InvalidArgumentError } from 'commander';
import { type ApiClient, createApiClient } from '../api-client.js';
import { readAdminKey, readEndpoints, zenmeshHome } from '../home.js';
import { createOutput, type Output } from '../output.js';

interface GlobalOptions {
  json?: boolean;
  home?: string;
  apiUrl?: string;
  apiKey?: string;
}

/** What every command needs: the state directory, where to print, and (lazily) the admin API. */
export interface CommandContext {
  home: string;
  out: Output;
  api(): ApiClient;
}

export type ContextFactory = () => CommandContext;

export function createContextFactory(program: Command): ContextFactory {
  return () => {
    const g = program.opts<GlobalOptions>();
    const home = g.home ? zenmeshHome({ ZENMESH_HOME: g.home }) : zenmeshHome();
    const out = createOutput(Boolean(g.json));
    return {
      home,
      out,
      api() {
        const baseUrl = g.apiUrl ?? process.env.ZENMESH_API_URL ?? readEndpoints(home).bff;
        const key = g.apiKey ?? process.env.ZENMESH_API_KEY ?? readAdminKey(home);
        return createApiClient(baseUrl, key);
      },
    };
  };
}

/** Wraps an async command body so its exit code reaches `run` and errors reach main(). */
export type ActionWrapper = <A extends unknown[]>(
  fn: (...args: A) => Promise<number | undefined>,
) => (...args: A) => Promise<void>;

export const port = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

export const limit = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError('expected 1-1000');
  return n;
};

export const enc = encodeURIComponent;

/** Signature of each area's registration function (commands/<area>.ts). */
export type RegisterCommands = (program: Command, ctx: ContextFactory, action: ActionWrapper) => void;
