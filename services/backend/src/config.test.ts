import { describe, expect, it } from 'vitest';
import { loadBackendConfig } from './config.js';

const base = {
  ZENMESH_TLS_CERT: 'c.pem',
  ZENMESH_TLS_KEY: 'k.pem',
  ZENMESH_TLS_CA: 'ca.pem',
  ZENMESH_SECRETS_DIR: '/s',
  ZENMESH_TOKEN_ADDR: '127.0.0.1:4001',
  ZENMESH_TOKEN_ISSUER: 'http://127.0.0.1:4000',
};

describe('backend config', () => {
  it('defaults to embedded PGlite and a loopback port', () => {
    expect(loadBackendConfig(base)).toMatchObject({
      ZENMESH_GRPC_LISTEN: '127.0.0.1:0',
      DATABASE_URL: undefined,
    });
  });

  it('refuses a missing secrets directory in one line', () => {
    expect(() => loadBackendConfig({ ...base, ZENMESH_SECRETS_DIR: undefined })).toThrow(
      'ZENMESH_SECRETS_DIR: unset: directory holding master.key is required',
    );
  });

  it('refuses a DATABASE_URL that is not postgres://', () => {
    expect(() => loadBackendConfig({ ...base, DATABASE_URL: 'mysql://x/y' })).toThrow(
      'DATABASE_URL: invalid: expected a postgres:// URL',
    );
  });
});
