/**
 * How far back every certificate we issue (SVIDs and the CA root) dates its notBefore: the same ±300 s the
 * per-message HMAC window tolerates (DESIGN.md "Message integrity"). A verifier whose clock runs up to that far
 * behind the CA's must accept a certificate issued just now; with a smaller backdate (it was 60 s), a service
 * 2 min behind refused every peer SVID younger than a minute (`svid_not_yet_valid`) although the HMAC window
 * let its calls through, and answered 503 until its clock passed the new notBefore (docs/reliability.md).
 * Backdating only widens the start of the window: notAfter, and so the usable lifetime, is unchanged.
 */
// Kept equal to @zenmesh/crypto's DEFAULT_WINDOW_SECONDS (pki does not depend on crypto; a test in
// @zenmesh/identity, which uses both, checks they agree).
export const CLOCK_SKEW_TOLERANCE_MS = 300_000;
