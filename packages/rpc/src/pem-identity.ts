import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ZenMeshError } from '@zenmesh/errors';
import { createIdentityProvider, type IdentityProvider, type TlsIdentity } from './certificate-provider.js';

/** An unreadable or malformed PEM file: the message names which one. */
export class TlsIdentityError extends ZenMeshError<'ERR_TLS_IDENTITY'> {
  override readonly name = 'TlsIdentityError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TLS_IDENTITY', message, options);
  }
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
  // The files are re-read and compared, not stat-watched: fs.watchFile takes its baseline asynchronously, so
  // a rewrite that lands between our first read and that baseline would never be noticed. Three small reads
  // per interval cost microseconds; the key check runs only when the contents changed.
  const timer = followMs > 0 ? setInterval(reload, followMs) : undefined;
  timer?.unref();
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
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
