import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretBox } from '@zenmesh/crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { TokenError } from './errors.js';

export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256';
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'EdDSA', 'RS256'];

/** next: published, not signing yet; current: signs; retired: published until its last token expires. */
export type SigningKeyState = 'next' | 'current' | 'retired';

export interface SigningKeyInfo {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyState;
  createdAt: Date;
  retiredAt: Date | null;
}

interface StoredKey {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyState;
  createdAt: string;
  retiredAt: string | null;
  /** The private JWK, AES-256-GCM sealed under the master key with the kid as AAD. */
  sealedPrivateJwk: string;
}

interface LoadedKey extends SigningKeyInfo {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface SigningKeyRing {
  /** The key that signs now. */
  current(): { kid: string; alg: SigningAlg; privateKey: CryptoKey };
  /** RFC 7517 key set: next, current and still-needed retired keys (public parts only). */
  jwks(): { keys: JWK[] };
  list(): SigningKeyInfo[];
  /** Promotes the pre-published next key to current, retires the old one, publishes a fresh next key. */
  rotate(): Promise<SigningKeyInfo[]>;
  /** Re-reads the file if another instance rotated (mtime changed). */
  reload(): Promise<void>;
}

export const SIGNING_KEYS_FILE = 'token-signing-keys.json';

export interface SigningKeyRingOptions {
  secretsDir: string;
  box: SecretBox;
  /** Algorithm for newly made keys; existing keys keep theirs until rotated out. */
  alg: SigningAlg;
  /**
   * How long a retired key stays published: at least the longest token lifetime it may have signed plus
   * clock skew, so no verifier ever meets a valid token whose key has vanished.
   */
  retiredKeyTtlMs: number;
  now?: () => Date;
}

async function makeKey(
  alg: SigningAlg,
  box: SecretBox,
  now: Date,
  state: SigningKeyState,
): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const kid = randomUUID();
  const jwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    state,
    createdAt: now.toISOString(),
    retiredAt: null,
    sealedPrivateJwk: box.seal(JSON.stringify(jwk), `token-signing-key/${kid}`),
  };
}

async function load(stored: StoredKey, box: SecretBox): Promise<LoadedKey> {
  const jwk = JSON.parse(box.open(stored.sealedPrivateJwk, `token-signing-key/${stored.kid}`)) as JWK;
  const privateKey = await importJWK(jwk, stored.alg);
  if (privateKey instanceof Uint8Array) {
    throw new TokenError('ERR_SIGNING_KEYS', `signing key ${stored.kid} is not asymmetric`);
  }
  // RFC 7518 §6: the public JWK is the private one without its private members.
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
  return {
    kid: stored.kid,
    alg: stored.alg,
    state: stored.state,
    createdAt: new Date(stored.createdAt),
    retiredAt: stored.retiredAt === null ? null : new Date(stored.retiredAt),
    privateKey,
    publicJwk: { ...publicJwk, kid: stored.kid, alg: stored.alg, use: 'sig' },
  };
}

/**
 * Signing keys live in one file in the secrets directory (never the database), each private key sealed
 * under the master key. Rotation is staged so a key is always published before it signs: at rest the ring
 * holds `current` and `next`; `rotate()` makes `next` current (already in every fresh JWKS) and publishes
 * a new `next`. Writes are atomic (temp file + rename, mode 0600). One writer at a time is assumed.
 */
export async function openSigningKeyRing(options: SigningKeyRingOptions): Promise<SigningKeyRing> {
  const { box } = options;
  if (!SIGNING_ALGS.includes(options.alg)) {
    throw new TokenError('ERR_CONFIG', `signing algorithm must be one of ${SIGNING_ALGS.join(', ')}`);
  }
  const now = options.now ?? (() => new Date());
  const file = join(options.secretsDir, SIGNING_KEYS_FILE);
  let stored: StoredKey[] = [];
  let loaded: LoadedKey[] = [];
  let mtimeMs = 0;

  const read = (): StoredKey[] | null => {
    try {
      const st = statSync(file);
      mtimeMs = st.mtimeMs;
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { version?: number; keys?: StoredKey[] };
      if (doc.version !== 1 || !Array.isArray(doc.keys)) {
        throw new TokenError('ERR_SIGNING_KEYS', `${file}: unknown format`);
      }
      return doc.keys;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TokenError('ERR_SIGNING_KEYS', `${file}: cannot read the signing keys`, { cause: err });
    }
  };
  const write = (keys: StoredKey[]) => {
    mkdirSync(options.secretsDir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    mtimeMs = statSync(file).mtimeMs;
  };
  const prune = (keys: StoredKey[]): StoredKey[] =>
    keys.filter(
      (k) =>
        k.state !== 'retired' ||
        k.retiredAt === null ||
        new Date(k.retiredAt).getTime() + options.retiredKeyTtlMs > now().getTime(),
    );
  const adopt = async (keys: StoredKey[]) => {
    try {
      loaded = await Promise.all(keys.map((k) => load(k, box)));
    } catch (err) {
      throw new TokenError(
        'ERR_SIGNING_KEYS',
        `${file}: a signing key cannot be opened with this master key`,
        {
          cause: err,
        },
      );
    }
    stored = keys;
  };

  let keys = read() ?? [];
  let changed = false;
  if (!keys.some((k) => k.state === 'current')) {
    keys.push(await makeKey(options.alg, box, now(), 'current'));
    changed = true;
  }
  if (!keys.some((k) => k.state === 'next')) {
    keys.push(await makeKey(options.alg, box, now(), 'next'));
    changed = true;
  }
  const pruned = prune(keys);
  if (pruned.length !== keys.length) changed = true;
  keys = pruned;
  if (changed) write(keys);
  await adopt(keys);

  const info = (k: LoadedKey): SigningKeyInfo => ({
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
  });

  return {
    current() {
      const key = loaded.find((k) => k.state === 'current');
      if (key === undefined) throw new TokenError('ERR_SIGNING_KEYS', 'no current signing key');
      return { kid: key.kid, alg: key.alg, privateKey: key.privateKey };
    },
    jwks() {
      return { keys: loaded.map((k) => k.publicJwk) };
    },
    list() {
      return loaded.map(info);
    },
    async rotate() {
      const at = now();
      const next = prune(stored).map((k): StoredKey => {
        if (k.state === 'current') return { ...k, state: 'retired', retiredAt: at.toISOString() };
        if (k.state === 'next') return { ...k, state: 'current' };
        return k;
      });
      next.push(await makeKey(options.alg, box, at, 'next'));
      await adopt(next);
      write(next);
      return loaded.map(info);
    },
    async reload() {
      let st: number;
      try {
        st = statSync(file).mtimeMs;
      } catch {
        return;
      }
      if (st === mtimeMs) return;
      const keys = read();
      if (keys !== null) await adopt(prune(keys));
    },
  };
}
