// Static checks of how the deployments expose metrics: compose (each mesh service's /metrics on the internal
// network, the optional metrics.yaml with Prometheus and a provisioned Grafana), the Helm chart (scrape
// annotations, the metrics port, a NetworkPolicy that admits only the scrapers) and the Grafana dashboard.
// test/observe.e2e.test.ts proves every metric the dashboard queries is exported by a running service.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardMetricNames } from '../support/prometheus.js';
import { COMPOSE_FILE, composeConfig, REPO } from './support/compose-file.js';
import { helmTemplate, type K8sObject } from './support/helm.js';

const MESH = ['ca', 'token', 'backend', 'egress', 'ingester', 'bff'];
const METRICS_FILE = `${REPO}deploy/compose/metrics.yaml`;
const scratch = mkdtempSync(join(tmpdir(), 'zm-metrics-deploy-'));
const passwordFile = join(scratch, 'password');
writeFileSync(passwordFile, 'test-only\n');
// The chart only carries the bundle into a ConfigMap; its content does not matter to these checks.
const bundleFile = join(scratch, 'bundle.pem');
writeFileSync(bundleFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

describe('compose: metrics on the internal network', () => {
  const config = composeConfig();

  it('gives every mesh service a /metrics listener on 9464, exposed internally and published nowhere', () => {
    for (const name of MESH) {
      const s = config.services[name];
      expect([name, s?.environment?.ZENMESH_METRICS_LISTEN, s?.environment?.OTEL_METRICS_EXPORTER]).toEqual([
        name,
        '0.0.0.0:9464',
        'none',
      ]);
      expect([name, (s?.expose ?? []).map(String)]).toEqual([name, ['9464']]);
      const published = (s?.ports ?? []).map((p) => JSON.stringify(p));
      expect([name, published.filter((p) => p.includes('9464'))]).toEqual([name, []]);
    }
  });

  it('scrapes exactly those six listeners in the Prometheus config metrics.yaml mounts', () => {
    const prom = parse(readFileSync(`${REPO}deploy/compose/prometheus.yml`, 'utf8')) as {
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(MESH.map((n) => `${n}:9464`).sort());
    expect(prom.scrape_configs.map((c) => c.metrics_path)).toEqual(['/metrics']);
  });

  it('adds Prometheus (internal only) and Grafana (loopback 3300, password from a file) with metrics.yaml', () => {
    const merged = composeConfig({ GRAFANA_ADMIN_PASSWORD_FILE: passwordFile }, [COMPOSE_FILE, METRICS_FILE]);
    const nets = (name: string) => Object.keys(merged.services[name]?.networks ?? {}).sort();
    expect(nets('prometheus')).toEqual(['mesh']);
    expect(merged.services.prometheus?.ports ?? []).toEqual([]);
    expect(nets('grafana')).toEqual(['edge', 'mesh']);
    const ports = (merged.services.grafana?.ports ?? []).map((p) =>
      typeof p === 'string' ? p : `${p.host_ip}:${p.published}:${p.target}`,
    );
    expect(ports).toEqual(['127.0.0.1:3300:3000/tcp']);
    const env = merged.services.grafana?.environment ?? {};
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toBeUndefined();
    expect(env.GF_SECURITY_ADMIN_PASSWORD__FILE).toBe('/run/secrets/grafana-admin-password');
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    for (const name of ['prometheus', 'grafana']) {
      const s = merged.services[name];
      expect([name, s?.read_only, s?.cap_drop, s?.image]).toEqual([
        name,
        true,
        ['ALL'],
        expect.stringMatching(/:v?\d+\.\d+\.\d+$/),
      ]);
    }
    // The base deployment is unchanged by the overlay.
    expect(Object.keys(merged.services).sort()).toEqual(
      [...Object.keys(composeConfig().services), 'grafana', 'prometheus'].sort(),
    );
  });

  it('provisions Grafana with the Prometheus datasource and the dashboard file', () => {
    const ds = parse(readFileSync(`${REPO}deploy/grafana/provisioning/datasources/prometheus.yaml`, 'utf8'));
    expect(ds.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const boards = parse(readFileSync(`${REPO}deploy/grafana/provisioning/dashboards/zenmesh.yaml`, 'utf8'));
    expect(boards.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    const overlay = readFileSync(METRICS_FILE, 'utf8');
    expect(overlay).toContain(
      '../grafana/zenmesh-dashboard.json:/var/lib/grafana/dashboards/zenmesh-dashboard.json:ro',
    );
  });
});

describe('Helm chart: metrics', () => {
  const render = (extra: string[] = []) =>
    helmTemplate([
      '--set-file',
      `trustBundle=${bundleFile}`,
      '--set',
      'postgres.host=db.example.internal',
      ...extra,
    ]);
  const deployments = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment');
  const component = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/component'] ?? '';

  it('annotates every pod for scraping, on the port its ZENMESH_METRICS_LISTEN and container port name', () => {
    const objects = render();
    expect(deployments(objects).map(component).sort()).toEqual([...MESH].sort());
    for (const d of deployments(objects)) {
      const pod = d.spec.template;
      expect([component(d), pod.metadata.annotations]).toEqual([
        component(d),
        { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9464', 'prometheus.io/path': '/metrics' },
      ]);
      const main = pod.spec.containers[0];
      const env = Object.fromEntries(main.env.map((e: { name: string; value: string }) => [e.name, e.value]));
      expect([component(d), env.ZENMESH_METRICS_LISTEN]).toEqual([component(d), '0.0.0.0:9464']);
      expect(main.ports).toContainEqual({ name: 'metrics', containerPort: 9464, protocol: 'TCP' });
    }
  });

  it('admits the metrics port only from the scrapers, and renders none of it with metrics off', () => {
    const objects = render();
    for (const name of MESH) {
      const np = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === `zenmesh-${name}`);
      const rules = (np?.spec.ingress ?? []).filter((r: { ports?: { port: number }[] }) =>
        (r.ports ?? []).some((p) => p.port === 9464),
      );
      expect([name, rules]).toEqual([
        name,
        [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
                podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
              },
            ],
            ports: [{ port: 9464, protocol: 'TCP' }],
          },
        ],
      ]);
    }
    const off = render(['--set', 'metrics.enabled=false']);
    const text = JSON.stringify(off);
    expect(text).not.toContain('9464');
    expect(text).not.toContain('prometheus.io/scrape');
    expect(text).not.toContain('ZENMESH_METRICS_LISTEN');
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(`${REPO}deploy/grafana/zenmesh-dashboard.json`, 'utf8'));

  it('is a dashboard with unique panel ids, each querying the templated Prometheus datasource', () => {
    const templated = ['$', '{datasource}'].join('');
    expect(dashboard.uid).toBe('zenmesh-overview');
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect([p.title, p.datasource?.uid, p.targets.length > 0]).toEqual([p.title, templated, true]);
    }
  });

  it('queries the delivery, queue, refusal, identity, CA and HTTP metrics by their exported names', () => {
    expect(dashboardMetricNames(dashboard)).toEqual([
      'zenmesh_ca_authorities',
      'zenmesh_ca_bundle_version',
      'zenmesh_ca_revoked_certificates',
      'zenmesh_ca_rotation_in_progress',
      'zenmesh_ca_rotation_phase',
      'zenmesh_delivery_attempt_duration_seconds_bucket',
      'zenmesh_delivery_attempts_total',
      'zenmesh_delivery_latency_seconds_bucket',
      'zenmesh_delivery_queue_depth',
      'zenmesh_delivery_queue_due',
      'zenmesh_delivery_queue_oldest_due_seconds',
      'zenmesh_http_request_duration_seconds_bucket',
      'zenmesh_http_request_duration_seconds_count',
      'zenmesh_ingest_refusals_total',
      'zenmesh_rpc_refusals_total',
      'zenmesh_svid_expiry_seconds',
    ]);
  });
});
