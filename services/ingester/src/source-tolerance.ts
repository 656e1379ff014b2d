import { MAX_TOLERANCE_S } from '@zenmesh/providers';

/**
 * The most a source's signed-timestamp tolerance may be, seconds: the backend refuses more at creation and
 * update (`MAX_TOLERANCE_S`), and the ingester caps what it is handed too, so a row written around that check
 * (an old row, a hand edit) cannot open a longer replay window.
 */
export const MAX_SOURCE_TOLERANCE_S = MAX_TOLERANCE_S;

/**
 * The tolerance to verify a source's webhooks with: its own `toleranceSeconds` from ResolveSource when that is
 * a positive number (capped at MAX_SOURCE_TOLERANCE_S), else the ingester's default.
 */
export function sourceToleranceS(source: { toleranceSeconds?: number }, defaultS: number): number {
  const own = source.toleranceSeconds;
  if (typeof own !== 'number' || !Number.isFinite(own) || own <= 0) return defaultS;
  return Math.min(Math.floor(own), MAX_SOURCE_TOLERANCE_S);
}
