import { describe, expect, it } from 'vitest';
import { grpcServerEnv, loadConfig, meshEnv, messageIntegrityEnv, positiveInt, z } from './index.js';

const base = { ZENMESH_TLS_CERT: 'c.pem', ZENMESH_TLS_KEY: 'k.pem', ZENMESH_TLS_CA: 'ca.pem' };

describe('loadConfig', () => {
  it('applies defaults and types', () => {
    const cfg = loadConfig(z.object({ ...meshEnv, ...grpcServerEnv, N: positiveInt(5) }), base);
    expect(cfg.ZENMESH_TRUST_DOMAIN).toBe('zenmesh.local');
    expect(cfg.ZENMESH_GRPC_LISTEN).toBe('127.0.0.1:0');
    expect(cfg.N).toBe(5);
  });

  it('fails with one line naming a missing variable', () => {
    expect(() => loadConfig(z.object(meshEnv), {})).toThrow(
      /^ZENMESH_TLS_CERT: unset: path to the PEM certificate chain is required$/,
    );
  });

  it('fails with one line naming an invalid variable', () => {
    expect(() =>
      loadConfig(z.object({ ...meshEnv }), { ...base, ZENMESH_TRUST_DOMAIN: 'Bad Domain' }),
    ).toThrow(/^ZENMESH_TRUST_DOMAIN: invalid: expected a lower-case trust domain$/);
    expect(() => loadConfig(z.object(grpcServerEnv), { ZENMESH_GRPC_LISTEN: 'nope' })).toThrow(
      /ZENMESH_GRPC_LISTEN: invalid: expected host:port/,
    );
    expect(() => loadConfig(z.object({ N: positiveInt(1) }), { N: '-3' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG' }),
    );
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(z.object(grpcServerEnv), { ZENMESH_GRPC_LISTEN: '' }).ZENMESH_GRPC_LISTEN).toBe(
      '127.0.0.1:0',
    );
  });
});

describe('messageIntegrityEnv', () => {
  const schema = z.object(messageIntegrityEnv);
  it('requires the secrets directory and defaults the insecure switch to off', () => {
    expect(() => loadConfig(schema, {})).toThrow(/^ZENMESH_SECRETS_DIR: unset/);
    expect(loadConfig(schema, { ZENMESH_SECRETS_DIR: '/s' })).toMatchObject({
      ZENMESH_SECRETS_DIR: '/s',
      ZENMESH_INSECURE_DISABLE_HMAC: false,
    });
    expect(
      loadConfig(schema, { ZENMESH_SECRETS_DIR: '/s', ZENMESH_INSECURE_DISABLE_HMAC: '1' }),
    ).toMatchObject({
      ZENMESH_INSECURE_DISABLE_HMAC: true,
    });
  });
  it('refuses a non-Redis URL, a bad prefix and a vague insecure switch', () => {
    const base = { ZENMESH_SECRETS_DIR: '/s' };
    expect(() => loadConfig(schema, { ...base, REDIS_URL: 'http://x' })).toThrow(/^REDIS_URL: invalid/);
    expect(() => loadConfig(schema, { ...base, ZENMESH_REDIS_PREFIX: 'a b' })).toThrow(
      /^ZENMESH_REDIS_PREFIX: invalid/,
    );
    expect(() => loadConfig(schema, { ...base, ZENMESH_INSECURE_DISABLE_HMAC: 'yes' })).toThrow(
      /^ZENMESH_INSECURE_DISABLE_HMAC: invalid/,
    );
  });
});
