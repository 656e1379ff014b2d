import { describe, expect, it } from 'vitest';
import { formatAuditVerify } from '../packages/cli/src/commands/audit.js';
import { parseSince } from '../packages/cli/src/commands/replay.js';

// The CLI's own parsing and formatting for `zenmesh replay endpoint --since` and `zenmesh audit verify`.
describe('zenmesh replay endpoint --since', () => {
  const now = () => Date.parse('2026-01-10T12:00:00.000Z');

  it.each([
    ['90m', '2026-01-10T10:30:00.000Z'],
    ['6h', '2026-01-10T06:00:00.000Z'],
    ['3d', '2026-01-07T12:00:00.000Z'],
    ['45s', '2026-01-10T11:59:15.000Z'],
    ['2026-01-09T08:00:00Z', '2026-01-09T08:00:00.000Z'],
    ['2026-01-09T08:00:00+02:00', '2026-01-09T06:00:00.000Z'],
  ])('reads %s as %s', (value, iso) => {
    expect(parseSince(value, now)).toBe(iso);
  });

  it.each(['', 'yesterday', '6 h', '-3d', '3w', '2026-13-45T99:00:00Z'])('refuses %j', (value) => {
    expect(() => parseSince(value, now)).toThrow(
      'expected an ISO 8601 time (2026-01-02T03:04:05Z) or a duration like 6h or 3d',
    );
  });
});

describe('zenmesh audit verify output', () => {
  it('names the first broken link of each broken chain, and says when a chain lost its tail', () => {
    expect(
      formatAuditVerify({
        ok: false,
        chains: [
          {
            tenantId: 'ten_a',
            tenantName: 'a',
            rows: 7,
            ok: false,
            broken: { seq: 8, id: 'aud_x', reason: 'seq_gap' },
          },
          {
            tenantId: 'ten_b',
            tenantName: 'b',
            rows: 3,
            ok: false,
            broken: { seq: 5, id: '', reason: 'head_mismatch' },
          },
          { tenantId: 'ten_c', tenantName: 'c', rows: 1, ok: true, broken: null },
        ],
      }),
    ).toEqual([
      'tenant a (ten_a): BROKEN at seq 8 (aud_x): seq_gap, a row before it is missing; 7 rows before it verified',
      'tenant b (ten_b): BROKEN at seq 5: head_mismatch, rows at the end of the chain were removed; 3 rows before it verified',
      'tenant c (ten_c): OK, 1 row verified',
      'audit chain BROKEN',
    ]);
    expect(formatAuditVerify({ ok: true, chains: [] })).toEqual(['no tenants']);
  });
});
