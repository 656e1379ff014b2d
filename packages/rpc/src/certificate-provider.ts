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
