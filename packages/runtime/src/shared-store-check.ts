import { ConfigError, type MessageIntegrityEnv } from '@zenmesh/config';

/**
 * Issue 12 defect 11: an in-process nonce/dedup store is only right for one instance. A service told it runs
 * as more than one (`ZENMESH_REPLICAS`, set by `zenmesh up --replicas` and the Helm chart) refuses to start
 * without a shared store instead of logging and carrying on, since a replica's own memory lets a message
 * captured at one instance be replayed at another.
 */
export function requireSharedStore(
  service: string,
  env: Pick<MessageIntegrityEnv, 'REDIS_URL' | 'ZENMESH_REPLICAS'>,
): void {
  if (env.ZENMESH_REPLICAS > 1 && !env.REDIS_URL) {
    throw new ConfigError(
      `REDIS_URL: unset: ZENMESH_REPLICAS=${env.ZENMESH_REPLICAS} runs more than one ${service}, and replicas must share one nonce and dedup store; set REDIS_URL (or ZENMESH_REPLICAS=1)`,
    );
  }
}
