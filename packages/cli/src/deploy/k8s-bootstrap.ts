import { join } from 'node:path';
import { randomToken, sha256Hex } from '@zenmesh/crypto';
import { ensureDir, keepOrCreate, writeFileAtomic } from './files.js';
import { ensureCa, ensureMasterKey } from './trust-domain.js';

export interface K8sBootstrapResult {
  out: string;
  createdCa: boolean;
  files: Record<string, string>;
  commands: string[];
}

/**
 * `zenmesh init k8s`: makes the trust domain on the operator's machine (master key, CA, admin API key,
 * database passwords) as files, and says which Secrets to create from them. Kept separate on purpose: the
 * master key Secret reaches every pod, the CA seed only the ca's init container (a pod that could read both
 * could issue itself any identity offline, unlogged).
 */
export async function bootstrapK8s(o: {
  out: string;
  trustDomain: string;
  namespace: string;
  release: string;
}): Promise<K8sBootstrapResult> {
  ensureDir(o.out);
  ensureMasterKey([o.out]);
  const ca = await ensureCa({ caSecretsDir: o.out, trustDomain: o.trustDomain, namespace: o.namespace });
  if (ca.bundlePem !== undefined) writeFileAtomic(join(o.out, 'bundle.pem'), ca.bundlePem, undefined, 0o644);
  const adminKey = keepOrCreate(join(o.out, 'admin-api-key'), () => `zm_${randomToken(32)}`);
  writeFileAtomic(join(o.out, 'admin-key.sha256'), `${sha256Hex(adminKey)}\n`, undefined, 0o644);
  const db = join(o.out, 'database');
  ensureDir(db);
  for (const name of ['zenmesh_app-password', 'zenmesh_token-password']) {
    keepOrCreate(join(db, name), () => randomToken(24));
  }
  const r = o.release;
  const commands = [
    `kubectl create secret generic ${r}-master-key --from-file=master.key=${join(o.out, 'master.key')}`,
    `kubectl create secret generic ${r}-ca-seed --from-file=${join(o.out, 'ca')}`,
    `kubectl create secret generic ${r}-admin-key --from-file=admin-key.sha256=${join(o.out, 'admin-key.sha256')}`,
    `kubectl create secret generic ${r}-database --from-file=${db} --from-literal=superuser-password=<your Postgres admin password>`,
    `kubectl create secret generic ${r}-redis --from-literal=redis-url=redis://:<password>@<host>:6379`,
    `helm install ${r} deploy/k8s/zenmesh --set-file trustBundle=${join(o.out, 'bundle.pem')} --set postgres.host=<host>`,
  ];
  return {
    out: o.out,
    createdCa: ca.created,
    files: {
      masterKey: join(o.out, 'master.key'),
      caSeed: join(o.out, 'ca'),
      bundle: join(o.out, 'bundle.pem'),
      adminApiKey: join(o.out, 'admin-api-key'),
      database: db,
    },
    commands,
  };
}
