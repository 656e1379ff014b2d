import { type PeerCertificate, TLSSocket } from 'node:tls';

/** The part of a grpc-js server call this reads. */
interface ServerCallLike {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

const perSession = new WeakMap<TLSSocket, PeerCertificate | undefined>();

/**
 * The client certificate of a call's TLS session, read once per session. grpc-js answers `getAuthContext()`
 * with a fresh `getPeerCertificate()` on every call — a full X.509-to-object conversion with three
 * fingerprints, about a tenth of a mesh call's CPU in the rpc bench profile — although a session's peer
 * certificate never changes once renegotiation is off. So the first call of a session disables TLS 1.2
 * renegotiation on its socket (HTTP/2 forbids it anyway, RFC 9113 §9.2.1; TLS 1.3 has none) and remembers
 * the certificate; later calls reuse it. Where the socket cannot be reached (another grpc-js layout), every
 * call asks grpc-js as before. The per-call peer check still runs on the certificate every call.
 */
export function sessionPeerCertificate(call: ServerCallLike): PeerCertificate | undefined {
  const socket = socketOf(call);
  if (!socket) return call.getAuthContext()?.sslPeerCertificate;
  if (perSession.has(socket)) return perSession.get(socket);
  if (!socket.authorized) return undefined;
  socket.disableRenegotiation();
  const cert = socket.getPeerCertificate();
  const known = cert?.raw ? cert : undefined;
  perSession.set(socket, known);
  return known;
}

/** grpc-js 1.14: ServerUnaryCall.call → ServerInterceptingCall.nextCall… → BaseServerInterceptingCall.stream. */
function socketOf(call: ServerCallLike): TLSSocket | undefined {
  let layer = (call as { call?: unknown }).call as Record<string, unknown> | undefined;
  for (let depth = 0; layer && depth < 8; depth++) {
    const stream = layer.stream as { session?: { socket?: unknown } } | undefined;
    if (stream) {
      const socket = stream.session?.socket;
      return socket instanceof TLSSocket ? socket : undefined;
    }
    layer = layer.nextCall as Record<string, unknown> | undefined;
  }
  return undefined;
}
