import { generateKeyPair, parseSpiffeId } from '@zenmesh/pki';
import { Health, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';
import { createMeshChannel, type MessageIntegrity } from '@zenmesh/rpc';
import type { CaCore } from './ca-types.js';
import { CaError } from './errors.js';
import type { RotationProbe } from './rotation.js';

/**
 * The default canary probe: a gRPC health check over mutual TLS in which both ends must speak the new CA.
 * The CA dials with a short-lived SVID signed by the new CA and trusts only the new CA, so the probe passes
 * only if the canary presents a new-CA certificate, accepts a new-CA client, and reports SERVING.
 */
export function createMtlsProbe(
  core: CaCore,
  integrity: MessageIntegrity | false,
  timeoutMs = 5_000,
  retryMs = 3_000,
): RotationProbe {
  return async (target, authority) => {
    const service = parseSpiffeId(target.spiffeId).service;
    if (!service) throw new CaError('ERR_ROTATION_PROBE', `${target.spiffeId} is not a mesh service ID`);
    const keyPair = await generateKeyPair();
    const { certPem } = await core.issueProbe(authority.id, keyPair.publicKeyPem, 120);
    const once = async () => {
      const channel = createMeshChannel({
        address: target.address,
        identity: { cert: certPem, key: keyPair.privateKeyPem, ca: authority.certPem },
        peer: service,
        trustDomain: core.trustDomain,
        namespace: core.namespace,
        integrity,
        timeoutMs,
      });
      try {
        return (await channel.client(Health).check({ service: '' })).status;
      } finally {
        channel.close();
      }
    };
    // A canary that has just renewed may need a moment to install the new certificate (a process following
    // its PEM files polls them), so a refused handshake is tried again for a few seconds; an answer is final.
    const deadline = Date.now() + retryMs;
    for (;;) {
      let status: HealthCheckResponse_ServingStatus;
      try {
        status = await once();
      } catch (err) {
        if (Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (status !== HealthCheckResponse_ServingStatus.SERVING) {
        throw new CaError(
          'ERR_ROTATION_PROBE',
          `health check answered ${HealthCheckResponse_ServingStatus[status]}`,
        );
      }
      return;
    }
  };
}
