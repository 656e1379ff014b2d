import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { promisify } from 'node:util';
import { PkiError } from './errors.js';

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

const generateKeyPairAsync = promisify(generateKeyPairCb);

// ECDSA P-256 is the X509-SVID default in our design and what every TLS stack accepts.
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Fresh ECDSA P-256 key pair: private key as PKCS#8 PEM, public key as SPKI PEM. */
export async function generateKeyPair(): Promise<KeyPairPem> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Reads a PEM private key (PKCS#8 or SEC1) and insists on ECDSA P-256. */
export function readP256PrivateKey(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new PkiError('ERR_KEY_INVALID', `${what}: not a readable PEM private key`, { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('ERR_KEY_INVALID', `${what}: expected an ECDSA P-256 key`);
  }
  return key;
}

/** Reads a PEM public key (SPKI) and returns its DER bytes, which go into the certificate as they are. */
export function readPublicKeySpki(pem: string, what: string): Buffer {
  try {
    return createPublicKey(pem).export({ type: 'spki', format: 'der' });
  } catch (cause) {
    throw new PkiError('ERR_KEY_INVALID', `${what}: not a readable PEM public key`, { cause });
  }
}

export function signingKey(key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey(ECDSA_P256, false, ['sign']);
}

export function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}
