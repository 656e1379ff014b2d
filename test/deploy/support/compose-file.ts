import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const COMPOSE_FILE = `${REPO}deploy/compose/compose.yaml`;
export const DOCKERFILE = `${REPO}deploy/docker/Dockerfile`;

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | null>;
  volumes?: string[];
  ports?: (string | { target: number; published?: number | string; host_ip?: string })[];
  networks?: Record<string, unknown> | string[];
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean; interval?: string; retries?: number };
  user?: string;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  tmpfs?: string[] | string;
  expose?: (string | number)[];
  secrets?: (string | { source: string })[];
}

export interface ComposeConfig {
  services: Record<string, ComposeService>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
}

/**
 * Debian's docker-compose (1.29) is the judge of the file: `config` validates it against its own schema,
 * interpolates `${VAR:-default}` with `env` and prints the normalised model, with no Docker engine.
 */
export function composeConfig(
  env: Record<string, string> = {},
  files: readonly string[] = [COMPOSE_FILE],
): ComposeConfig {
  let text: string;
  try {
    text = execFileSync('docker-compose', [...files.flatMap((f) => ['-f', f]), 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('docker-compose is not installed: apt-get install -y docker-compose (.ci/run does)');
    }
    throw new Error(`docker-compose config refused the file:\n${e.stderr ?? String(err)}`);
  }
  return parse(text) as ComposeConfig;
}

/** The raw file, as a user edits it (anchors resolved by the YAML parser, nothing interpolated). */
export const composeSource = (): unknown => parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });

/** `name:/container/path[:ro]` of a named volume. */
export function mounts(service: ComposeService): { volume: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    const [volume, target, mode] = v.split(':');
    if (!volume || !target) throw new Error(`unexpected volume entry ${v}`);
    return { volume, target, readOnly: mode === 'ro' };
  });
}

/** The image's entry point from the Dockerfile's ENTRYPOINT (exec form). */
export function dockerEntrypoint(): string[] {
  const line = readFileSync(DOCKERFILE, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT');
  return JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
}

/** Services in an order where each comes after everything it depends on. */
export function startOrder(config: ComposeConfig): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (order.includes(name)) return;
    if (path.includes(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
    for (const dep of Object.keys(config.services[name]?.depends_on ?? {})) visit(dep, [...path, name]);
    order.push(name);
  };
  for (const name of Object.keys(config.services)) visit(name, []);
  return order;
}
