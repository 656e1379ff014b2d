/** What the ingester answers: a status, a JSON body and its headers. */
export type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

export const refusal = (status: number, error: string): Reply => ({ status, body: { error } });
export const UNAVAILABLE: Reply = {
  status: 503,
  body: { error: 'unavailable' },
  headers: { 'retry-after': '5' },
};
export const INTERNAL: Reply = refusal(500, 'internal');
// One answer for every signature problem, so a sender learns nothing about which check failed.
export const INVALID_SIGNATURE: Reply = refusal(401, 'invalid_signature');
export const UNKNOWN_SOURCE: Reply = refusal(404, 'unknown_source');

/** The reply with the headers of a budget it was counted against added (its own headers win). */
export const withHeaders = (reply: Reply, headers: Record<string, string>): Reply => ({
  ...reply,
  headers: { ...headers, ...reply.headers },
});
