import { readFileSync } from 'node:fs';
import { commaList, grpcServerEnv, hostPort, meshServiceEnv, positiveInt, z } from '@zenmesh/config';
import ipaddr from 'ipaddr.js';
import type { TargetPolicy } from './target-policy.js';

const cidrList = commaList().refine(
  (list) => list.every((c) => ipaddr.isValidCIDR(c)),
  'expected comma-separated CIDRs, e.g. 127.0.0.0/8,::1/128',
);

/**
 * Every variable egress reads: the mesh ones (the workload agent provides the certificate, so
 * ZENMESH_TLS_CERT/_KEY are optional), the backend's address, and the delivery settings.
 */
export const egressEnv = z.object({
  ...meshServiceEnv,
  ...grpcServerEnv,
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_EGRESS_POLL_MS: positiveInt(1000),
  ZENMESH_EGRESS_CONCURRENCY: positiveInt(32),
  ZENMESH_EGRESS_TIMEOUT_MS: positiveInt(15_000),
  /**
   * Most deliveries of one endpoint in flight in this egress (its fair share of the slots), so a slow or
   * black-hole endpoint cannot take them all. Unset: a quarter of ZENMESH_EGRESS_CONCURRENCY.
   */
  ZENMESH_EGRESS_ENDPOINT_SHARE: z
    .string()
    .regex(/^\d+$/, 'expected a positive integer')
    .transform(Number)
    .pipe(z.number().int().positive())
    .optional(),
  /**
   * SSRF allow-list: CIDRs egress may deliver to although they are loopback, private, link-local...
   * Empty (the default) allows public unicast addresses only. The local launcher sets
   * `127.0.0.0/8,::1/128` so the tour's targets on 127.0.0.1 work.
   */
  ZENMESH_EGRESS_ALLOW_CIDRS: cidrList,
  /** PEM file of extra root certificates trusted for HTTPS targets (a private PKI). */
  ZENMESH_EGRESS_TARGET_CA: z.string().min(1).optional(),
});

export type EgressEnv = z.output<typeof egressEnv>;

/** The engine options that come from configuration: SSRF policy and extra target roots. */
export function targetOptions(config: EgressEnv): { targetPolicy: TargetPolicy; targetCa?: string } {
  return {
    targetPolicy: { allow: config.ZENMESH_EGRESS_ALLOW_CIDRS },
    ...(config.ZENMESH_EGRESS_TARGET_CA === undefined
      ? {}
      : { targetCa: readFileSync(config.ZENMESH_EGRESS_TARGET_CA, 'utf8') }),
  };
}
