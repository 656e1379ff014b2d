import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { experimental } from '@grpc/grpc-js';

type CertificateProvider = experimental.CertificateProvider;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;

/** PEM material of one workload: its certificate chain, private key, and the trust bundle it verifies peers with. */
export interface TlsIdentity {
  cert: string;
  key: string;
  ca: string;
}

export class TlsIdentityError extends Error {
  override readonly name = 'TlsIdentityError';
  readonly code = 'ERR_TLS_IDENTITY' as const;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/;

/** An identity read from PEM files that follows them: see `loadTlsIdentity`. */
export interface FileTlsIdentity extends TlsIdentity, IdentityProvider {
  /** Stop following the files. */
  close(): void;
}

/**
 * Reads the three PEM files, failing fast with one line that names the unreadable or malformed one, and
 * then follows them (polled every `followMs`, default 500 ms; 0 = never): when whoever keeps them current (a
 * workload identity agent, the launcher) rewrites them, the next TLS handshake of every server and channel
 * built from this identity uses the new certificate and bundle. A key that does not match its certificate
 * (the files are being replaced one by one) is skipped until the set is consistent again.
 */
export function loadTlsIdentity(
  files: { cert: string; key: string; ca: string },
  options: { followMs?: number } = {},
): FileTlsIdentity {
  const read = (what: string, path: string, pattern: RegExp): string => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new TlsIdentityError(
        `cannot read ${what} at ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (!pattern.test(text)) throw new TlsIdentityError(`${what} at ${path} is not PEM`);
    return text;
  };
  const readAll = (): TlsIdentity => ({
    cert: read('certificate', files.cert, PEM_CERT),
    key: read('private key', files.key, PEM_KEY),
    ca: read('trust bundle', files.ca, PEM_CERT),
  });
  const provider = createIdentityProvider(readAll());
  const reload = () => {
    let next: TlsIdentity;
    try {
      next = readAll();
      const current = provider.current();
      if (next.cert === current.cert && next.key === current.key && next.ca === current.ca) return;
      if (!new X509Certificate(next.cert).checkPrivateKey(createPrivateKey(next.key))) return;
    } catch {
      return; // mid-rewrite or briefly missing: keep what works and look again at the next poll
    }
    provider.update(next);
  };
  const followMs = options.followMs ?? 500;
  const watched = [files.cert, files.key, files.ca];
  if (followMs > 0) for (const f of watched) watchFile(f, { interval: followMs, persistent: false }, reload);
  return {
    get cert() {
      return provider.current().cert;
    },
    get key() {
      return provider.current().key;
    },
    get ca() {
      return provider.current().ca;
    },
    current: provider.current,
    update: provider.update,
    addCaCertificateListener: provider.addCaCertificateListener,
    removeCaCertificateListener: provider.removeCaCertificateListener,
    addIdentityCertificateListener: provider.addIdentityCertificateListener,
    removeIdentityCertificateListener: provider.removeIdentityCertificateListener,
    close() {
      for (const f of watched) unwatchFile(f, reload);
    },
  };
}

/**
 * The live identity of a workload, as a grpc-js CertificateProvider: servers and channels built from it pick
 * up a new certificate or trust bundle on the next handshake, without restarting and without touching
 * connections already established (grpc-js >= 1.12 certificate providers).
 */
export interface IdentityProvider extends CertificateProvider {
  current(): TlsIdentity;
  update(identity: TlsIdentity): void;
}

export function createIdentityProvider(initial: TlsIdentity): IdentityProvider {
  let identity = initial;
  const caListeners = new Set<CaCertificateUpdateListener>();
  const idListeners = new Set<IdentityCertificateUpdateListener>();
  const caUpdate = () => ({ caCertificate: Buffer.from(identity.ca) });
  const idUpdate = () => ({ certificate: Buffer.from(identity.cert), privateKey: Buffer.from(identity.key) });
  return {
    current: () => identity,
    update(next) {
      identity = next;
      for (const l of caListeners) l(caUpdate());
      for (const l of idListeners) l(idUpdate());
    },
    addCaCertificateListener(listener) {
      caListeners.add(listener);
      // Delivered on the next tick: grpc-js registers its own watcher only after adding the listener, and
      // an update delivered synchronously would reach nobody.
      process.nextTick(() => caListeners.has(listener) && listener(caUpdate()));
    },
    removeCaCertificateListener(listener) {
      caListeners.delete(listener);
    },
    addIdentityCertificateListener(listener) {
      idListeners.add(listener);
      process.nextTick(() => idListeners.has(listener) && listener(idUpdate()));
    },
    removeIdentityCertificateListener(listener) {
      idListeners.delete(listener);
    },
  };
}

export const isIdentityProvider = (v: TlsIdentity | IdentityProvider): v is IdentityProvider =>
  typeof (v as IdentityProvider).current === 'function';

export const toIdentityProvider = (v: TlsIdentity | IdentityProvider): IdentityProvider =>
  isIdentityProvider(v) ? v : createIdentityProvider(v);
