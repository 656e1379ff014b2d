import type { IncomingMessage } from 'node:http';

/** Request bodies above this are refused with 413 before they are buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too_large' | 'invalid_json' | 'aborted' };

/**
 * Reads a JSON body, stopping at `limit` bytes: a declared Content-Length above the limit is refused
 * without reading, and a chunked body is cut off as soon as it crosses it.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return { ok: false, reason: 'too_large' };
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > limit) return { ok: false, reason: 'too_large' };
      chunks.push(buf);
    }
  } catch {
    return { ok: false, reason: 'aborted' };
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  if (text.trim() === '') return { ok: false, reason: 'invalid_json' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
}
