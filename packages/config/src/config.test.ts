import { describe, expect, it } from 'vitest';
import { grpcServerEnv, loadConfig, meshEnv, positiveInt, z } from './index.js';

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
