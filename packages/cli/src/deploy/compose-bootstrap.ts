import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey, MASTER_KEY_FILE, randomToken, readKeyringFile, sha256Hex } from '@zenmesh/crypto';
import { mintJoinToken } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { CliError } from '../errors.js';
import { chownTree, ensureDir, keepOrCreate, type Owner, writeFileAtomic } from './files.js';
import type { MeshService } from './mesh-services.js';
import { ensureCa, ensureMasterKey } from './trust-domain.js';
import { holdsMasterKey, writeServiceKeys, writeServiceSealingKeys } from './workload-keys.js';

/** Services that join with a token (the CA issues its own SVID). */
const JOINING: readonly Exclude<MeshService, 'ca'>[] = ['token', 'backend', 'egress', 'ingester', 'bff'];

/** The database roles the services log in as: neither superuser nor BYPASSRLS. */
export const DB_ROLES = { backend: 'zenmesh_app', token: 'zenmesh_token' } as const;

/** Every service, each with its own secrets volume. */
const ALL: readonly MeshService[] = ['ca', ...JOINING];

/**
 * The directories of `zenmesh init compose`, one per compose volume (deploy/compose/compose.yaml mounts each
 * under the same name below the init root). Each service mounts only its own.
 */
export const composeLayout = (root: string) => ({
  trust: join(root, 'trust'),
  caSecrets: join(root, 'ca-secrets'),
  tokenSecrets: join(root, 'token-secrets'),
  /** `<service>-secrets`: its message-keys.json, and the master key for ca, token and backend only. */
  secrets: (service: MeshService) => join(root, `${service}-secrets`),
  identity: (service: Exclude<MeshService, 'ca'>) => join(root, `identity-${service}`),
  postgres: join(root, 'postgres-secrets'),
  redis: join(root, 'redis-secrets'),
  operator: join(root, 'operator'),
});

export interface ComposeBootstrapOptions {
  root: string;
  trustDomain: string;
  namespace: string;
  /** Lifetime of each join token, seconds. */
  tokenTtlSeconds: number;
  /** host:port of Redis and of Postgres as the services reach them, and the database name. */
  redisAddress: string;
  postgresAddress: string;
  database: string;
  /** Owner of everything the mesh's services read (their container user). */
  serviceOwner?: Owner;
  /** Owner of the files the postgres and redis containers read (their images' users). */
  postgresOwner?: Owner;
  redisOwner?: Owner;
}

export interface ComposeBootstrapResult {
  trustDomain: string;
  createdMasterKey: boolean;
  createdCa: boolean;
  createdAdminKey: boolean;
  joinTokens: { service: string; spiffeId: string; expiresAt: string }[];
  adminKeyFile: string;
}

/**
 * The one-shot init of docker compose. Idempotent: the master key, the CA, the passwords and the admin key
 * are made once and kept; join tokens are minted afresh on every run, because each is good for one join
 * within `tokenTtlSeconds`. A service that already joined resumes from the SVID its agent keeps in its
 * identity volume and never presents its (spent) token again; one whose SVID expired while it was stopped
 * needs this run again (`docker compose up` runs it every time).
 */
export async function bootstrapCompose(o: ComposeBootstrapOptions): Promise<ComposeBootstrapResult> {
  const l = composeLayout(o.root);
  const svc = o.serviceOwner;
  for (const dir of [...ALL.map(l.secrets), l.operator, ...JOINING.map(l.identity)]) ensureDir(dir, svc);
  ensureDir(l.trust, svc, 0o755);
  // The database's files are read by the postgres container and by `zenmesh init database` (its group).
  ensureDir(l.postgres, o.postgresOwner, 0o750);
  ensureDir(l.redis, o.redisOwner);

  // Every volume is checked for a differing copy (token's signing keys were sealed under the one in its volume);
  // only the ca's keeps it.
  const holders = ALL.filter(holdsMasterKey).map(l.secrets);
  const { created: createdMasterKey } = ensureMasterKey(ALL.map(l.secrets), svc, holders);
  const ca = await ensureCa({
    caSecretsDir: l.caSecrets,
    trustDomain: o.trustDomain,
    namespace: o.namespace,
  });
  if (ca.bundlePem !== undefined || !existsSync(join(l.trust, 'bundle.pem'))) {
    if (ca.bundlePem === undefined) {
      throw new CliError(
        'ERR_STATE',
        `${join(l.trust, 'bundle.pem')} is missing but the CA exists; start the ca service, which rewrites it`,
      );
    }
    writeFileAtomic(join(l.trust, 'bundle.pem'), ca.bundlePem, svc, 0o644);
  }
  // The CA was made by this process (root, in compose): the ca service's user must own what it will rewrite.
  if (svc) chownTree(join(l.caSecrets, 'ca'), svc);

  // Passwords: random, made once. The database's own files are readable by its group (the init database step).
  const pgFile = (name: string) => join(l.postgres, name);
  keepOrCreate(pgFile('superuser-password'), () => randomToken(24), o.postgresOwner, 0o640);
  const rolePassword = {
    backend: keepOrCreate(
      pgFile(`${DB_ROLES.backend}-password`),
      () => randomToken(24),
      o.postgresOwner,
      0o640,
    ),
    token: keepOrCreate(pgFile(`${DB_ROLES.token}-password`), () => randomToken(24), o.postgresOwner, 0o640),
  };
  const redisPassword = keepOrCreate(join(l.redis, 'password'), () => randomToken(24), o.redisOwner);
  // Redis keeps only the SHA-256 of the password (ACL `#<hex>`), never the password itself.
  writeFileAtomic(
    join(l.redis, 'users.acl'),
    `user default on #${sha256Hex(redisPassword)} ~* &* +@all\n`,
    o.redisOwner,
  );
  const redisUrl = `redis://:${encodeURIComponent(redisPassword)}@${o.redisAddress}\n`;
  writeFileAtomic(join(l.caSecrets, 'redis-url'), redisUrl, svc);
  for (const service of JOINING) writeFileAtomic(join(l.identity(service), 'redis-url'), redisUrl, svc);
  // libpq's password file (node-postgres reads it through PGPASSFILE): the URL itself carries no secret.
  const [pgHost, pgPort] = splitHostPort(o.postgresAddress);
  for (const service of ['backend', 'token'] as const) {
    writeFileAtomic(
      join(l.identity(service), 'pgpass'),
      `${pgHost}:${pgPort}:${o.database}:${DB_ROLES[service]}:${rolePassword[service]}\n`,
      svc,
    );
  }

  let createdAdminKey = false;
  const adminKey = keepOrCreate(
    join(l.operator, 'admin-api-key'),
    () => {
      createdAdminKey = true;
      return `zm_${randomToken(32)}`;
    },
    svc,
  );
  writeFileAtomic(join(l.identity('token'), 'admin-key.sha256'), `${sha256Hex(adminKey)}\n`, svc);

  // Join tokens are minted here, by init, alone: no service that joins with one holds the key that mints them.
  const masterKey = loadMasterKey(l.caSecrets);
  // Each service's own pair keys, for the versions of the cluster keyring (version 1 unless one was placed in
  // ca-secrets); rewritten on every run.
  const state = readKeyringFile(l.caSecrets);
  for (const service of ALL) {
    const dir = l.secrets(service);
    writeServiceKeys(dir, { service, masterKey, ...o, state }, svc);
    writeServiceSealingKeys(dir, service, masterKey, svc);
    // Only the ca keeps the master key; a copy an older init left in another volume goes.
    if (!holdsMasterKey(service)) rmSync(join(dir, MASTER_KEY_FILE), { force: true });
  }
  const joinTokens = JOINING.map((service) => {
    const spiffeId = spiffeIdFor(service, { trustDomain: o.trustDomain, namespace: o.namespace });
    const { token, claims } = mintJoinToken(masterKey, { spiffeId, ttlSeconds: o.tokenTtlSeconds });
    writeFileAtomic(join(l.identity(service), 'join-token'), `${token}\n`, svc);
    return { service, spiffeId, expiresAt: claims.expiresAt.toISOString() };
  });
  return {
    trustDomain: o.trustDomain,
    createdMasterKey,
    createdCa: ca.created,
    createdAdminKey,
    joinTokens,
    adminKeyFile: join(l.operator, 'admin-api-key'),
  };
}

export function splitHostPort(value: string): [string, string] {
  const i = value.lastIndexOf(':');
  if (i <= 0) throw new TypeError(`expected host:port, got ${JSON.stringify(value)}`);
  return [value.slice(0, i).replace(/^\[|\]$/g, ''), value.slice(i + 1)];
}
