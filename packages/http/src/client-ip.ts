import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client. */
const plain = (address: string): string => {
  const a = address.trim();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
};

/**
 * The real client address: the socket peer, unless that peer is a trusted proxy — then
 * `X-Forwarded-For` is read right to left, skipping trusted proxies, and the first address not trusted
 * is the client (https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-For#selecting_an_ip_address).
 * Entries left of it were written by the client and are never believed. A malformed entry stops the
 * walk at the last proxy we trust. `trusted` holds addresses and CIDR ranges (`10.0.0.0/8`, `::1`).
 */
export type ClientIpResolver = (req: IncomingMessage) => string;

export function createClientIpResolver(trusted: readonly string[]): ClientIpResolver {
  const list = new BlockList();
  for (const entry of trusted) {
    const [address = '', bits] = entry.trim().split('/');
    const family = isIP(address);
    if (family === 0) throw new TypeError(`trusted proxy: not an IP address or CIDR: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else {
      const prefix = Number(bits);
      if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
        throw new TypeError(`trusted proxy: bad prefix length: ${entry}`);
      }
      list.addSubnet(address, prefix, type);
    }
  }
  const isTrusted = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };

  return (req) => {
    let client = plain(req.socket.remoteAddress ?? '');
    if (trusted.length === 0 || !isTrusted(client)) return client;
    const raw = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(raw) ? raw.join(',') : (raw ?? '')).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain(hops[i] ?? '');
      if (isIP(hop) === 0) break;
      client = hop;
      if (!isTrusted(hop)) break;
    }
    return client;
  };
}
