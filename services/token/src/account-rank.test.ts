// Who may reset whose second factor (account-rank.ts), as properties over arbitrary memberships (fixed seed).
import { ROLE_SCOPES, type Role } from '@zenmesh/auth';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { outranks, principalRole } from './account-rank.js';

const RUNS = { seed: 0x5eed_1012, numRuns: 500 };
const role = fc.constantFrom<Role>('reader', 'operator', 'admin');
const tenant = fc.constantFrom<string | null>(null, 'ten_a', 'ten_b', 'ten_c');
const membership = fc.record({ tenantId: tenant, role });
const memberships = fc.uniqueArray(membership, { selector: (m) => m.tenantId, maxLength: 4 });
/** The token a login with this membership carries: exactly the role's scopes, in that tenant. */
const principalOf = (m: { tenantId: string | null; role: Role }) => ({
  scopes: [...ROLE_SCOPES[m.role]],
  tenantId: m.tenantId,
});

describe('outranks', () => {
  it('never lets anyone act on a user holding a membership equal to its own (no admin → admin, owner → owner)', () => {
    fc.assert(
      fc.property(membership, memberships, (mine, others) => {
        expect(
          outranks(principalOf(mine), {
            memberships: [mine, ...others.filter((o) => o.tenantId !== mine.tenantId)],
          }),
        ).toBe(false);
      }),
      RUNS,
    );
  });

  it('is antisymmetric: of two principals at most one outranks the other', () => {
    fc.assert(
      fc.property(membership, membership, (a, b) => {
        expect(
          outranks(principalOf(a), { memberships: [b] }) && outranks(principalOf(b), { memberships: [a] }),
        ).toBe(false);
      }),
      RUNS,
    );
  });

  it('a tenant principal never outranks a user with any membership outside its tenant', () => {
    fc.assert(
      fc.property(role, fc.constantFrom('ten_a', 'ten_b'), memberships, (r, t, ms) => {
        fc.pre(ms.some((m) => m.tenantId !== t));
        expect(outranks({ scopes: [...ROLE_SCOPES[r]], tenantId: t }, { memberships: ms })).toBe(false);
      }),
      RUNS,
    );
  });

  it('a cluster owner outranks every user without a cluster-wide admin membership', () => {
    fc.assert(
      fc.property(memberships, (ms) => {
        const owner = { scopes: ['admin'], tenantId: null };
        const expected = !ms.some((m) => m.tenantId === null && m.role === 'admin');
        expect(outranks(owner, { memberships: ms })).toBe(expected);
      }),
      RUNS,
    );
  });

  it('keys:admin (or any scope set) short of a full role outranks nobody', () => {
    fc.assert(
      fc.property(
        tenant,
        memberships,
        fc.subarray(['keys:admin', 'events:read', 'sources:read']),
        (t, ms, scopes) => {
          expect(principalRole({ scopes, tenantId: t })).toBeNull();
          expect(outranks({ scopes, tenantId: t }, { memberships: ms })).toBe(false);
        },
      ),
      RUNS,
    );
  });
});
