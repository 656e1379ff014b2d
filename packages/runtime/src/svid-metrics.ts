import { X509Certificate } from 'node:crypto';
import type { Meter } from '@zenmesh/telemetry';

/**
 * `zenmesh_svid_expiry_seconds`: seconds until the certificate this process currently presents expires
 * (negative once expired). Read at each scrape from `currentCert()`, so a renewal shows at once. A healthy
 * service stays between half and all of the SVID lifetime; below half means renewal is failing.
 */
export function observeSvidExpiry(
  meter: Meter,
  currentCert: () => string,
  now: () => number = Date.now,
): void {
  let cachedPem = '';
  let notAfterMs = Number.NaN;
  meter
    .createObservableGauge('zenmesh_svid_expiry_seconds', {
      description: 'Seconds until the SVID this process presents expires',
      unit: 's',
    })
    .addCallback((result) => {
      const pem = currentCert();
      if (pem !== cachedPem) {
        cachedPem = pem;
        try {
          notAfterMs = Date.parse(new X509Certificate(pem).validTo);
        } catch {
          notAfterMs = Number.NaN;
        }
      }
      if (Number.isFinite(notAfterMs)) result.observe(Math.round((notAfterMs - now()) / 1000));
    });
}
