// The Helm chart's web console settings (services.bff.console): off without a registration Secret, and with
// one the bff reads the registration from that Secret as a file, read-only; Jaeger's UI and the metrics the
// overview's refusals are summed from reach the bff only when given.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/compose-file.js';
import { helmTemplate, type K8sObject } from './support/helm.js';

interface PodSpec {
  containers: Array<{
    env: Array<{ name: string; value?: string }>;
    volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  }>;
  volumes: Array<{ name: string; secret?: { secretName: string; defaultMode?: number } }>;
}
const out = mkdtempSync(join(tmpdir(), 'zm-chart-console-'));
const base = () => [
  '--set-file',
  `trustBundle=${join(out, 'bundle.pem')}`,
  '--set',
  'postgres.host=db.example.internal',
];
const bffPod = (objects: K8sObject[]) =>
  (
    objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'zenmesh-bff') as unknown as {
      spec: { template: { spec: PodSpec } };
    }
  ).spec.template.spec;
const env = (pod: PodSpec) => Object.fromEntries(pod.containers[0]?.env.map((e) => [e.name, e.value]) ?? []);

beforeAll(() => {
  execFileSync(process.execPath, [join(REPO, 'packages/cli/dist/bin.js'), 'init', 'k8s', '--out', out], {
    stdio: 'pipe',
  });
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('Helm chart: the web console', () => {
  it('is off by default: no registration file, no Jaeger link, no metrics URLs, no extra volume', () => {
    const pod = bffPod(helmTemplate(base()));
    const e = env(pod);
    expect(e.ZENMESH_CONSOLE_CLIENT_FILE).toBeUndefined();
    expect(e.JAEGER_UI_URL).toBeUndefined();
    expect(e.ZENMESH_CONSOLE_METRICS_URLS).toBeUndefined();
    expect(pod.volumes.map((v) => v.name)).not.toContain('console-client');
  });

  it('reads the registration from the named Secret, mounted read-only, and passes Jaeger and the metrics', () => {
    const pod = bffPod(
      helmTemplate([
        ...base(),
        '--set',
        'services.bff.console.clientSecretName=zenmesh-console',
        '--set',
        'services.bff.console.jaegerUiUrl=https://jaeger.example.com',
        '--set',
        'services.bff.console.metricsUrls=http://10.0.0.1:9464/metrics',
      ]),
    );
    expect(env(pod)).toMatchObject({
      ZENMESH_CONSOLE_CLIENT_FILE: '/etc/zenmesh/console/console-client.json',
      JAEGER_UI_URL: 'https://jaeger.example.com',
      ZENMESH_CONSOLE_METRICS_URLS: 'http://10.0.0.1:9464/metrics',
    });
    expect(pod.containers[0]?.volumeMounts).toContainEqual({
      name: 'console-client',
      mountPath: '/etc/zenmesh/console',
      readOnly: true,
    });
    // Readable by the pod's group only, as every other Secret the chart mounts.
    const mode = pod.volumes.find((v) => v.name === 'redis')?.secret?.defaultMode;
    expect(pod.volumes).toContainEqual({
      name: 'console-client',
      secret: { secretName: 'zenmesh-console', defaultMode: mode },
    });
  });
});
