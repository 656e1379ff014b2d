import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ZenMeshError } from '@zenmesh/errors';
import ipaddr from 'ipaddr.js';

/**
 * SSRF protection for deliveries: which addresses egress may connect to. Only globally routable
 * unicast addresses are allowed by default; loopback, private (RFC 1918, unique-local fc00::/7),
 * link-local (169.254/16 — where cloud metadata services live — and fe80::/10), carrier-grade NAT,
 * multicast, unspecified, reserved, documentation/benchmarking and the IPv6 transition ranges that
 * embed an IPv4 address (6to4, Teredo, NAT64) are refused unless an allow-list CIDR covers them.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address inside.
 */
export interface TargetPolicy {
  /** CIDRs permitted even though their range is refused by default, e.g. `127.0.0.0/8` for a local tour. */
  allow: readonly string[];
}

export const STRICT_TARGET_POLICY: TargetPolicy = { allow: [] };

export class TargetRefusedError extends ZenMeshError<'ERR_SSRF_BLOCKED'> {
  override readonly name = 'TargetRefusedError';
  constructor(
    readonly address: string,
    readonly range: string,
  ) {
    super('ERR_SSRF_BLOCKED', `ssrf_blocked: ${address} is ${range}; not in the egress allow-list`);
  }
}

/** A target host name that resolves to no address at all. */
export class TargetUnresolvedError extends ZenMeshError<'ERR_TARGET_UNRESOLVED'> {
  override readonly name = 'TargetUnresolvedError';
  constructor(readonly hostname: string) {
    super('ERR_TARGET_UNRESOLVED', `no address for ${hostname}`);
  }
}

export interface AddressCheck {
  /** Throws TargetRefusedError unless the address may be connected to. */
  check(address: string): void;
  /** Resolves a host name (or takes an IP literal) and returns the address to connect to. */
  resolve(hostname: string): Promise<{ address: string; family: 4 | 6 }>;
}

/** Parses the allow-list, failing at start-up (TypeError) on anything that is not a CIDR. */
export function createAddressCheck(
  policy: TargetPolicy,
  dnsLookup: (host: string) => Promise<{ address: string; family: number }[]> = (host) =>
    lookup(host, { all: true, verbatim: true }),
): AddressCheck {
  const allow = policy.allow.map((cidr) => {
    if (!ipaddr.isValidCIDR(cidr))
      throw new TypeError(`egress allow-list: ${JSON.stringify(cidr)} is not a CIDR`);
    return ipaddr.parseCIDR(cidr);
  });
  const check = (address: string): void => {
    let ip: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      // process() turns ::ffff:a.b.c.d into a.b.c.d, so a mapped address is judged as what it reaches.
      ip = ipaddr.process(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
    } catch {
      throw new TargetRefusedError(address, 'not an IP address');
    }
    const range = ip.range();
    if (range === 'unicast') return;
    const permitted = allow.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
    if (!permitted) throw new TargetRefusedError(ip.toString(), range);
  };
  return {
    check,
    async resolve(hostname) {
      const literal = hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) !== 0) {
        check(literal);
        return { address: literal, family: isIP(literal) as 4 | 6 };
      }
      const found = await dnsLookup(literal);
      if (found.length === 0) throw new TargetUnresolvedError(literal);
      // Every answer must pass: a name that also resolves to an internal address is refused outright,
      // rather than depending on which answer the connection happens to use.
      for (const a of found) check(a.address);
      const first = found[0] as { address: string; family: number };
      return { address: first.address, family: first.family === 6 ? 6 : 4 };
    },
  };
}
