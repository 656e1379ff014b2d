import * as proto from '@zenmesh/proto';
import { MESH_POLICY } from '@zenmesh/rpc';
import type { K8sObject } from './helm.js';

export const MESH_SERVICES = ['ca', 'token', 'backend', 'egress', 'ingester', 'bff'] as const;

/** Which mesh service serves a gRPC service: its contract's file, `proto/zenmesh/v1/<service>.proto`. */
function servedBy(): Map<string, string> {
  const map = new Map<string, string>();
  for (const value of Object.values(proto)) {
    const s = value as { kind?: string; typeName?: string; file?: { name?: string } };
    if (s?.kind === 'service' && s.typeName?.startsWith('zenmesh.v1.') && s.file?.name) {
      map.set(s.typeName, s.file.name.replace(/^zenmesh\/v1\//, ''));
    }
  }
  return map;
}

/**
 * The pod-to-pod gRPC flows the security matrix allows, derived from rpc's MESH_POLICY (the one table of
 * which SPIFFE IDs may call which RPC): for each method, its callers → the service whose contract defines it
 * (`*` = every other mesh workload). grpc.health.v1 is left out: every server serves it to anyone already
 * allowed to reach it, and the only caller it adds is the CA's canary probe during a rotation (DESIGN.md
 * "Identity": mTLS health probes), which is therefore listed: ca → every gRPC server.
 */
export function allowedGrpcFlows(): Set<string> {
  const served = servedBy();
  const flows = new Set<string>();
  for (const [path, callers] of Object.entries(MESH_POLICY)) {
    if (path.startsWith('grpc.health.v1.')) continue;
    const server = served.get(path.slice(0, path.indexOf('/')));
    if (!server) throw new Error(`no contract file serves ${path}`);
    const who = callers.includes('*') ? MESH_SERVICES.filter((s) => s !== server) : callers;
    for (const caller of who) flows.add(`${caller} -> ${server}`);
  }
  for (const server of new Set(served.values())) if (server !== 'ca') flows.add(`ca -> ${server}`);
  return flows;
}

export const GRPC_PORTS: Record<string, number[]> = {
  ca: [7000, 7001],
  token: [7100],
  backend: [7200],
  egress: [7300],
};
export const PUBLIC_PORTS: Record<string, number> = { ingester: 8080, bff: 3000, token: 4000 };

const component = (selector: { matchLabels?: Record<string, string> } | undefined) =>
  selector?.matchLabels?.['app.kubernetes.io/component'];

interface Rule {
  ports?: { port: number }[];
  from?: { podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: unknown }[];
  to?: {
    podSelector?: { matchLabels?: Record<string, string> };
    ipBlock?: { cidr: string; except?: string[] };
  }[];
}

/**
 * The pod-to-pod flows rendered NetworkPolicies allow on gRPC ports, seen from both ends: a flow is allowed
 * when the server's policy admits the caller (ingress) AND the caller's policy lets it out (egress). Also
 * returns every rule that would open a gRPC port more widely (no `from`, an ipBlock), which must not exist.
 */
export function networkPolicyFlows(objects: K8sObject[]): {
  ingress: Set<string>;
  egress: Set<string>;
  open: string[];
} {
  const ingress = new Set<string>();
  const egress = new Set<string>();
  const open: string[] = [];
  const grpcPorts = new Set(Object.values(GRPC_PORTS).flat());
  for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    const self = component(np.spec?.podSelector);
    if (!self) continue;
    for (const rule of (np.spec.ingress ?? []) as Rule[]) {
      const ports = (rule.ports ?? []).map((p) => p.port);
      const grpc = ports.length === 0 ? [...grpcPorts] : ports.filter((p) => grpcPorts.has(p));
      if (grpc.length === 0) continue;
      if (!rule.from || rule.from.length === 0)
        open.push(`${np.metadata.name}: ingress from anyone on ${grpc}`);
      for (const peer of rule.from ?? []) {
        const caller = component(peer.podSelector);
        if (!caller || peer.ipBlock) open.push(`${np.metadata.name}: ingress from a non-pod peer on ${grpc}`);
        else ingress.add(`${caller} -> ${self}`);
      }
    }
    for (const rule of (np.spec.egress ?? []) as Rule[]) {
      const ports = (rule.ports ?? []).map((p) => p.port);
      for (const peer of rule.to ?? []) {
        const server = component(peer.podSelector);
        if (server && ports.some((p) => GRPC_PORTS[server]?.includes(p))) egress.add(`${self} -> ${server}`);
        if (peer.ipBlock && (ports.length === 0 || ports.some((p) => grpcPorts.has(p)))) {
          // An ipBlock may only reach gRPC ports where it cannot reach pods: egress's rule to customer
          // endpoints, which excludes the private ranges pods live in.
          const except = peer.ipBlock.except ?? [];
          const excludesPrivate = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].every((c) =>
            except.includes(c),
          );
          if (!(self === 'egress' && excludesPrivate))
            open.push(`${np.metadata.name}: egress to ${peer.ipBlock.cidr} on gRPC ports`);
        }
      }
    }
  }
  return { ingress, egress, open };
}
