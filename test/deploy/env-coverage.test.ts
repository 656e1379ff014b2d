// Each service's own variable schema (its config.ts) against what the deployments give it: a variable compose
// or the chart sets that the service does not read (a typo, a renamed setting) fails here, and so does a
// required one they leave out (the schema refuses the environment, as the service would at start).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendEnv } from '@zenmesh/backend';
import { bffEnv } from '@zenmesh/bff';
import { caEnv } from '@zenmesh/ca';
import { SECRET_FILE_VARIABLES } from '@zenmesh/cli';
import { egressEnv } from '@zenmesh/egress';
import { ingesterEnv } from '@zenmesh/ingester';
import { tokenEnv } from '@zenmesh/token';
import { describe, expect, it } from 'vitest';
import { composeConfig } from './support/compose-file.js';
import { helmTemplate } from './support/helm.js';

interface EnvSchema {
  shape: Record<string, unknown>;
  safeParse(input: unknown): {
    success: boolean;
    error?: { issues: { path: PropertyKey[]; message: string }[] };
  };
}
const SCHEMAS: Record<string, EnvSchema> = {
  ca: caEnv,
  token: tokenEnv,
  backend: backendEnv,
  egress: egressEnv,
  ingester: ingesterEnv,
  bff: bffEnv,
};
// Read by libraries, not by our schemas: the OpenTelemetry SDK (OTEL_*) and pg (PGPASSFILE); POD_IP only
// feeds $(POD_IP) in the chart.
const LIBRARY_VARIABLE = /^(OTEL_[A-Z_]+|PGPASSFILE|POD_IP)$/;
// What a secret file would hold, for the schema to judge (the deployments carry only the file's path).
const SECRET_SAMPLES: Record<string, string> = {
  ZENMESH_JOIN_TOKEN: 'zmjt_sample',
  DATABASE_URL: 'postgres://zenmesh_app@postgres:5432/zenmesh',
  REDIS_URL: 'redis://:password@redis:6379',
  ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: 'a'.repeat(64),
};

/** The environment the service's schema sees once `zenmesh service` has read the `_FILE` variables. */
function asServiceSees(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const secret = SECRET_FILE_VARIABLES.find((s) => key === `${s}_FILE`);
    if (secret !== undefined) out[secret] = SECRET_SAMPLES[secret] as string;
    else out[key] = value.replace('$(POD_IP)', '10.1.2.3');
  }
  return out;
}

function check(name: string, given: Record<string, string>) {
  const schema = SCHEMAS[name] as EnvSchema;
  const env = asServiceSees(given);
  const unknown = Object.keys(env).filter((k) => !(k in schema.shape) && !LIBRARY_VARIABLE.test(k));
  const input = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(input);
  const refused = parsed.success
    ? []
    : (parsed.error?.issues ?? []).map((i) => `${String(i.path[0])}: ${i.message}`);
  return { name, unknown, refused };
}

describe('each service reads every variable its deployment sets, and needs none it leaves out', () => {
  it('compose', () => {
    const config = composeConfig({ ZENMESH_EGRESS_ALLOW_CIDRS: '172.16.0.0/12' });
    for (const name of Object.keys(SCHEMAS)) {
      const env = Object.fromEntries(
        Object.entries(config.services[name]?.environment ?? {}).map(([k, v]) => [k, String(v ?? '')]),
      );
      expect(check(name, env)).toEqual({ name, unknown: [], refused: [] });
    }
  });

  it('the Helm chart', () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'zm-env-coverage-')), 'bundle.pem');
    writeFileSync(bundle, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const objects = helmTemplate([
      '--set-file',
      `trustBundle=${bundle}`,
      '--set',
      'postgres.host=db.example.internal',
      '--set',
      'otlp.endpoint=http://jaeger-collector:4318',
      // The web console configured (its registration Secret, Jaeger's UI, two pods' metrics).
      '--set-json',
      'services.bff.console={"clientSecretName":"zenmesh-console","jaegerUiUrl":"https://jaeger.example.com","metricsUrls":"http://10.0.0.1:9464/metrics,http://10.0.0.2:9464/metrics"}',
    ]);
    for (const name of Object.keys(SCHEMAS)) {
      const d = objects.find(
        (o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === name,
      );
      const env = Object.fromEntries(
        (d?.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [
          e.name,
          e.value ?? '',
        ]),
      );
      expect(check(name, env)).toEqual({ name, unknown: [], refused: [] });
    }
  });

  it('notices a misspelt variable and a missing required one', () => {
    expect(
      check('egress', {
        ZENMESH_BACKEND_ADRR: 'backend:7200',
        ZENMESH_TLS_CA: '/b.pem',
        ZENMESH_SECRETS_DIR: '/s',
      }),
    ).toEqual({
      name: 'egress',
      unknown: ['ZENMESH_BACKEND_ADRR'],
      refused: [expect.stringMatching(/^ZENMESH_BACKEND_ADDR: /)],
    });
  });
});
