import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * What compose's embedded DNS does for a container (service name → its address), for processes run outside
 * Docker: a module preloaded with `--import` that answers dns.lookup for exactly these names and leaves every
 * other name to the system resolver. Nothing is rewritten in the environment or the files the services read.
 */
export function writeHostsShim(dir: string, hosts: Record<string, string>): string {
  const file = join(dir, 'compose-hosts.mjs');
  writeFileSync(
    file,
    `import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
const HOSTS = ${JSON.stringify(hosts)};
const family = (ip) => (ip.includes(':') ? 6 : 4);
const original = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  const ip = Object.hasOwn(HOSTS, hostname) ? HOSTS[hostname] : undefined;
  if (ip === undefined) return original.apply(this, arguments);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  if (all) process.nextTick(cb, null, [{ address: ip, family: family(ip) }]);
  else process.nextTick(cb, null, ip, family(ip));
};
const originalPromise = dns.promises.lookup;
dns.promises.lookup = async function lookup(hostname, options) {
  const ip = Object.hasOwn(HOSTS, hostname) ? HOSTS[hostname] : undefined;
  if (ip === undefined) return originalPromise.call(this, hostname, options);
  const answer = { address: ip, family: family(ip) };
  return typeof options === 'object' && options !== null && options.all ? [answer] : answer;
};
syncBuiltinESMExports();
`,
  );
  return pathToFileURL(file).href;
}
