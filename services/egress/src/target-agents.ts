import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { AddressCheck, TargetRefusedError } from './target-policy.js';

export interface TargetAgentsOptions {
  addresses: AddressCheck;
  /** Connections per origin. */
  connections: number;
  /** Extra trusted roots (PEM) besides Node's bundled ones, e.g. a private PKI; tests use it. */
  ca?: string | undefined;
  /** Most distinct client identities kept with an open agent; the least recently used is closed. */
  maxAgents?: number;
}

export interface TargetAgents {
  /** The dispatcher for an endpoint: a shared one, or one presenting the endpoint's client certificate. */
  forEndpoint(clientCertPem: string, clientKeyPem: string): Dispatcher;
  close(): Promise<void>;
}

/**
 * undici connector that resolves the host itself, refuses blocked addresses, and connects to exactly
 * the address it checked (no second DNS lookup that could answer differently, i.e. no DNS
 * rebinding). TLS still verifies the certificate against the original host name, sent as SNI.
 * After connecting, the socket's peer address is checked once more.
 */
function guardedConnector(addresses: AddressCheck, tls: { ca?: string; cert?: string; key?: string }) {
  const base = buildConnector({
    // Setting `ca` replaces Node's bundled roots, so they are passed along with the extra one.
    ...(tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
  });
  const connector: buildConnector.connector = (opts, callback) => {
    const hostname = opts.hostname;
    addresses.resolve(hostname).then(
      ({ address }) => {
        // Only the address changes: `host` keeps the name, from which undici derives the SNI name that
        // Node then checks the certificate against.
        base({ ...opts, hostname: address }, (err, socket) => {
          if (err !== null) return callback(err, null);
          const peer = (socket as Socket).remoteAddress;
          try {
            if (peer !== undefined) addresses.check(peer);
          } catch (refusal) {
            socket.destroy();
            return callback(refusal as TargetRefusedError, null);
          }
          return callback(null, socket);
        });
      },
      (err: unknown) => callback(err as Error, null),
    );
  };
  return connector;
}

export function createTargetAgents(options: TargetAgentsOptions): TargetAgents {
  const maxAgents = options.maxAgents ?? 256;
  const make = (cert?: string, key?: string) =>
    new Agent({
      connections: options.connections,
      connect: guardedConnector(options.addresses, {
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(cert === undefined ? {} : { cert, key: key ?? '' }),
      }),
    });
  const shared = make();
  // Map order is insertion order: re-inserting on use keeps the least recently used first.
  const withIdentity = new Map<string, Agent>();
  return {
    forEndpoint(clientCertPem, clientKeyPem) {
      if (clientCertPem === '' || clientKeyPem === '') return shared;
      const key = createHash('sha256').update(clientCertPem).update('\0').update(clientKeyPem).digest('hex');
      let agent = withIdentity.get(key);
      if (agent !== undefined) {
        withIdentity.delete(key);
      } else {
        agent = make(clientCertPem, clientKeyPem);
        if (withIdentity.size >= maxAgents) {
          const [oldestKey, oldest] = withIdentity.entries().next().value as [string, Agent];
          withIdentity.delete(oldestKey);
          void oldest.close();
        }
      }
      withIdentity.set(key, agent);
      return agent;
    },
    async close() {
      await Promise.all([shared.close(), ...[...withIdentity.values()].map((a) => a.close())]);
      withIdentity.clear();
    },
  };
}
