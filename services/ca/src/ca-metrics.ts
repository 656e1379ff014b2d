import type { Meter } from '@zenmesh/telemetry';
import type { CaCore } from './ca-types.js';

/** Every phase a rotation record can be in (rotation.ts); `idle` when no rotation was ever started. */
export const ROTATION_PHASES: readonly string[] = [
  'idle',
  'preparing',
  'distributing',
  'canary',
  'probing',
  'rolling_out',
  'retiring',
  'completed',
  'rolling_back',
  'rolled_back',
  'failed',
];

/**
 * The CA's state as gauges, read from `core.state` at each scrape:
 * - `zenmesh_ca_rotation_phase{phase}`: 1 for the phase of the latest rotation (`idle` without one), 0 for
 *   the others, so a dashboard shows the phase and an alert can fire on `failed` or `rolled_back`;
 * - `zenmesh_ca_rotation_in_progress`: 1 while a rotation is not in a final phase;
 * - `zenmesh_ca_bundle_version`, `zenmesh_ca_authorities{state}` (active, prepared, retired...), and
 *   `zenmesh_ca_revoked_certificates`.
 */
export function observeCa(meter: Meter, core: CaCore): void {
  const final = new Set(['idle', 'completed', 'rolled_back', 'failed']);
  const phaseOf = () => core.state.rotation?.phase ?? 'idle';
  meter
    .createObservableGauge('zenmesh_ca_rotation_phase', {
      description: '1 for the phase of the latest CA rotation, 0 for the others',
    })
    .addCallback((result) => {
      const current = phaseOf();
      const phases = ROTATION_PHASES.includes(current) ? ROTATION_PHASES : [...ROTATION_PHASES, current];
      for (const phase of phases) result.observe(phase === current ? 1 : 0, { phase });
    });
  meter
    .createObservableGauge('zenmesh_ca_rotation_in_progress', {
      description: '1 while a CA rotation is under way',
    })
    .addCallback((result) => result.observe(final.has(phaseOf()) ? 0 : 1));
  meter
    .createObservableGauge('zenmesh_ca_bundle_version', { description: 'Version of the trust bundle' })
    .addCallback((result) => result.observe(core.bundle().version));
  meter
    .createObservableGauge('zenmesh_ca_authorities', { description: 'CA authorities, by state' })
    .addCallback((result) => {
      const counts = new Map<string, number>();
      for (const a of core.state.authorities) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
      for (const [state, n] of counts) result.observe(n, { state });
    });
  meter
    .createObservableGauge('zenmesh_ca_revoked_certificates', {
      description: 'Certificates on the revocation list',
    })
    .addCallback((result) => result.observe(core.revocations().serials.length));
}
