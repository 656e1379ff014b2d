import type { IncomingMessage } from 'node:http';
import { ZenMeshError } from '@zenmesh/errors';

/** Thrown when a request body exceeds the limit; the rest of the body is never buffered. */
export class BodyTooLargeError extends ZenMeshError<'ERR_BODY_TOO_LARGE'> {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super('ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`);
  }
}

/** True when the request's Content-Length already says it is over `limit` (checked before anything else). */
export function declaresTooLarge(req: IncomingMessage, limit: number): boolean {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > limit;
}

/**
 * Reads the raw request body as bytes (signatures are over these exact bytes), refusing as soon as it
 * passes `limit`: a declared Content-Length over the limit is refused before reading anything.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (declaresTooLarge(req, limit)) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading: the caller answers 413 and closes the connection.
        req.pause();
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // A connection that closes before the body is complete is an abandoned request, not a short body.
    const onClose = (): void => {
      if (!req.complete) onError(new Error('request aborted'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}
