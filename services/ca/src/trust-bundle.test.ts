import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustBundle } from './trust-bundle.js';

let dir: string;
let current: CertificateAuthority;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zm-ca-bundle-'));
  current = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loading the bundle fails fast', () => {
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('refuses a missing file', () => {
    expect(() => loadTrustBundle(join(dir, 'nope.pem'))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_UNREADABLE',
        message: expect.stringContaining('ENOENT'),
      }),
    );
  });

  it('refuses a file without certificates', () => {
    for (const text of ['', 'hello\n', current.keyPem]) {
      expect(() => loadTrustBundle(write('empty.pem', text))).toThrow(
        expect.objectContaining({ code: 'ERR_TRUST_BUNDLE_EMPTY' }),
      );
    }
  });

  it('refuses a corrupt certificate and a leaf certificate', async () => {
    const corrupt = `-----BEGIN CERTIFICATE-----\nTUlJQm9n\n-----END CERTIFICATE-----\n`;
    expect(() => loadTrustBundle(write('corrupt.pem', `${current.certPem}\n${corrupt}`))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_INVALID',
        message: expect.stringContaining('certificate 2 is not valid X.509'),
      }),
    );
    const leaf = await issueSvidWithKey({ ca: current, spiffeId: spiffeIdFor('bff') });
    expect(() => loadTrustBundle(write('leaf.pem', leaf.certPem))).toThrow(
      expect.objectContaining({
        code: 'ERR_TRUST_BUNDLE_INVALID',
        message: expect.stringContaining('is not a CA'),
      }),
    );
  });
});
