import { describe, expect, it } from 'vitest';
import { createAddressCheck, STRICT_TARGET_POLICY } from './target-policy.js';

const strict = createAddressCheck(STRICT_TARGET_POLICY);

describe('SSRF address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['2002:a9fe:a9fe::1', '6to4'],
  ])('refuses %s (%s) by default', (address, range) => {
    expect(() => strict.check(address)).toThrow(expect.objectContaining({ code: 'ERR_SSRF_BLOCKED', range }));
  });

  it.each(['93.184.215.14', '2606:4700::6810:84e5', '8.8.8.8'])(
    'allows the public unicast address %s',
    (address) => {
      expect(() => strict.check(address)).not.toThrow();
    },
  );

  it('allows exactly the allow-listed ranges', () => {
    const local = createAddressCheck({ allow: ['127.0.0.0/8', '::1/128'] });
    expect(() => local.check('127.0.0.1')).not.toThrow();
    expect(() => local.check('::1')).not.toThrow();
    expect(() => local.check('::ffff:127.0.0.1')).not.toThrow();
    expect(() => local.check('10.0.0.1')).toThrow(
      'ssrf_blocked: 10.0.0.1 is private; not in the egress allow-list',
    );
    expect(() => local.check('169.254.169.254')).toThrow('ssrf_blocked: 169.254.169.254 is linkLocal');
  });

  it('judges every address a name resolves to, and refuses if any is internal (no DNS games)', async () => {
    const check = createAddressCheck(STRICT_TARGET_POLICY, async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ]);
    await expect(check.resolve('mixed.example')).rejects.toThrow('ssrf_blocked: 10.0.0.7 is private');
    const ok = createAddressCheck(STRICT_TARGET_POLICY, async () => [
      { address: '93.184.215.14', family: 4 },
    ]);
    await expect(ok.resolve('public.example')).resolves.toEqual({ address: '93.184.215.14', family: 4 });
  });

  it('resolves localhost through real DNS and refuses it', async () => {
    await expect(strict.resolve('localhost')).rejects.toMatchObject({
      code: 'ERR_SSRF_BLOCKED',
      range: 'loopback',
    });
  });

  it('refuses an allow-list entry that is not a CIDR at start-up', () => {
    expect(() => createAddressCheck({ allow: ['127.0.0.1'] })).toThrow(
      'egress allow-list: "127.0.0.1" is not a CIDR',
    );
  });
});
