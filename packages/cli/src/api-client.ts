import { CliError } from './errors.js';

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
}

/** A small client of the bff's /api/v1 REST API, authenticated with an API key. */
export function createApiClient(baseUrl: string, apiKey: string, timeoutMs = 10_000): ApiClient {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const url = new URL(path, baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CliError(
        'ERR_API_UNREACHABLE',
        `cannot reach the admin API at ${url.origin}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const e = data as { error?: string; message?: string } | undefined;
      const detail = e?.message ? `${e.error}: ${e.message}` : (e?.error ?? `HTTP ${res.status}`);
      throw new CliError('ERR_API', `${method} ${url.pathname} failed (${res.status}): ${detail}`, {
        status: res.status,
      });
    }
    return data as T;
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    delete: (path) => call('DELETE', path),
  };
}
