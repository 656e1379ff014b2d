import { randomBytes } from 'node:crypto';
import {
  createMessageKeyring,
  createMessageSigner,
  type KeyringState,
  type MessageSigner,
  readKeyringFile,
} from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import {
  Code,
  encodeRequest,
  INTEGRITY_METADATA,
  type ProbeResult,
  probeCall,
  signatureMetadata,
} from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { openProbeKit, type ProbeKit, signerFor } from './probe-kit.js';
import { DENIED, type DeniedSpec, FLOWS, type FlowSpec, flowName, type ProbeName } from './security-flows.js';

export interface Cell {
  probe: ProbeName;
  expected: string;
  observed: string;
  pass: boolean;
}

export interface FlowReport {
  flow: string;
  client: string;
  server: string;
  rpc: string;
  address: string;
  cells: Cell[];
}

const describe = (r: ProbeResult) =>
  r.code === Code.OK
    ? 'OK (served)'
    : r.code === Code.UNAVAILABLE && /handshake|certificate|tls|ssl|socket|connect/i.test(r.details)
      ? 'UNAVAILABLE (TLS handshake refused)'
      : `${Code[r.code] ?? r.code}${r.details ? ` ${r.details}` : ''}`;

const handshakeRefused = (r: ProbeResult) => r.code === Code.UNAVAILABLE;
const refusedWith = (code: Code, reason: string) => (r: ProbeResult) =>
  r.code === code && r.details === reason;
const ADMISSION = new Set<number>([Code.UNAVAILABLE, Code.UNAUTHENTICATED, Code.PERMISSION_DENIED]);
/**
 * Refusals a handler gives after mesh admission let the call in: the end user's forwarded token (issue 7) is
 * the handler's business, so a probe without one has proven the mesh layers just as well.
 */
const HANDLER_REFUSALS = new Set(['missing_user_token', 'invalid_user_token', 'expired_user_token']);

interface Prepared {
  spec: FlowSpec;
  path: string;
  body: Buffer;
  target: { address: string; serverId: string; trustBundle: string };
}

function prepare(kit: ProbeKit, spec: FlowSpec): Prepared {
  const { path, body } = encodeRequest(spec.service, spec.method, spec.request());
  const address = kit.endpoints.grpc[spec.server];
  if (!address) throw new CliError('ERR_STATE', `endpoints.json has no gRPC address for ${spec.server}`);
  return {
    spec,
    path,
    body,
    target: {
      address,
      serverId: spiffeIdFor(spec.server, { trustDomain: kit.trustDomain, namespace: kit.namespace }),
      trustBundle: kit.bundle,
    },
  };
}

/** The legitimate call of a flow, signed by `signer`: passes when admission lets it through to the handler. */
async function legitimate(kit: ProbeKit, f: Prepared, signer: MessageSigner) {
  const client = await kit.mint(f.spec.client);
  const sig = signer.signRequest({
    path: f.path,
    callerId: client.id,
    serverId: f.target.serverId,
    body: f.body,
  });
  const metadata = signatureMetadata(sig);
  const result = await probeCall({ ...f.target, client }, f.path, f.body, metadata);
  let pass = false;
  let observed = describe(result);
  if (result.code === Code.OK) {
    const given = result.trailers[INTEGRITY_METADATA.responseSignature];
    const ok =
      given !== undefined &&
      signer.verifyResponse({
        path: f.path,
        keyId: sig.keyId,
        nonce: sig.nonce,
        callerId: client.id,
        serverId: f.target.serverId,
        outcome: { code: 0, body: result.reply ?? Buffer.alloc(0) },
        signature: given,
      });
    pass = ok;
    observed = ok
      ? `OK, response signature verified (key ${sig.keyId})`
      : 'OK but the response signature is missing or wrong';
  } else if (!ADMISSION.has(result.code) || HANDLER_REFUSALS.has(result.details)) {
    pass = true;
    observed = `${observed} (answered by the handler)`;
  }
  return { pass, observed, client, metadata, result };
}

/** Probes one flow like an attacker would, then legitimately; one cell per probe. */
export async function probeFlow(kit: ProbeKit, spec: FlowSpec): Promise<FlowReport> {
  const f = prepare(kit, spec);
  const signer = signerFor(kit);
  const cells: Cell[] = [];
  const cell = (probe: ProbeName, expected: string, r: ProbeResult, pass: (r: ProbeResult) => boolean) =>
    cells.push({ probe, expected, observed: describe(r), pass: pass(r) });

  const legit = await legitimate(kit, f, signer);
  const serverId = f.target.serverId;
  const signedAs = (id: string, s: MessageSigner = signer) =>
    signatureMetadata(s.signRequest({ path: f.path, callerId: id, serverId, body: f.body }));

  cell(
    'no_client_cert',
    'UNAVAILABLE (TLS handshake refused)',
    await probeCall(f.target, f.path, f.body, signedAs(legit.client.id)),
    handshakeRefused,
  );

  const foreign = await kit.mint(spec.client, kit.namespace, kit.foreignCa);
  cell(
    'foreign_trust_domain',
    'UNAVAILABLE (TLS handshake refused) or PERMISSION_DENIED foreign_trust_domain',
    // No key exists for a foreign ID: the request carries a valid signature of our own client.
    await probeCall({ ...f.target, client: foreign }, f.path, f.body, signedAs(legit.client.id)),
    (r) => handshakeRefused(r) || refusedWith(Code.PERMISSION_DENIED, 'foreign_trust_domain')(r),
  );

  const wrong = await kit.mint(spec.wrong.service, spec.wrong.namespace ?? kit.namespace);
  cell(
    'wrong_spiffe_id',
    'PERMISSION_DENIED spiffe_id_not_allowed',
    await probeCall({ ...f.target, client: wrong }, f.path, f.body, signedAs(wrong.id)),
    refusedWith(Code.PERMISSION_DENIED, 'spiffe_id_not_allowed'),
  );

  const as = { ...f.target, client: legit.client };
  cell(
    'no_hmac',
    'UNAUTHENTICATED missing_signature',
    await probeCall(as, f.path, f.body, {}),
    refusedWith(Code.UNAUTHENTICATED, 'missing_signature'),
  );

  // Right fields, wrong key: an HMAC under a key derived from another master key, same key id.
  const forger = createMessageSigner({
    keyring: createMessageKeyring({
      masterKey: randomBytes(32),
      cluster: kit.trustDomain,
      state: readKeyringFile(kit.secretsDir),
    }),
  });
  cell(
    'bad_hmac',
    'UNAUTHENTICATED bad_signature',
    await probeCall(as, f.path, f.body, signedAs(legit.client.id, forger)),
    refusedWith(Code.UNAUTHENTICATED, 'bad_signature'),
  );

  const past = signerFor(kit, undefined, () => Date.now() - 2 * signer.windowSeconds * 1000);
  cell(
    'stale_timestamp',
    'UNAUTHENTICATED stale_timestamp',
    await probeCall(as, f.path, f.body, signedAs(legit.client.id, past)),
    refusedWith(Code.UNAUTHENTICATED, 'stale_timestamp'),
  );

  // The legitimate request again, byte for byte: same body, same metadata, same nonce.
  cell(
    'replayed_nonce',
    'UNAUTHENTICATED replayed_nonce',
    await probeCall(as, f.path, f.body, legit.metadata),
    refusedWith(Code.UNAUTHENTICATED, 'replayed_nonce'),
  );

  // A covered metadata value changed on the way: the forwarded user token of a signed request.
  const covered = { authorization: 'Bearer zenmesh-verify-probe' };
  const sig = signer.signRequest({
    path: f.path,
    callerId: legit.client.id,
    serverId,
    body: f.body,
    headers: covered,
  });
  const tampered = await probeCall(as, f.path, f.body, {
    ...signatureMetadata(sig),
    authorization: 'Bearer zenmesh-verify-tampered',
  });
  // The refusal itself must be signed by the server (over its code and reason, bound to our nonce).
  const refusalSigned = verifiesStatus(signer, f, sig, legit.client.id, tampered);
  cells.push({
    probe: 'tampered_metadata',
    expected: 'UNAUTHENTICATED bad_signature, refusal signed',
    observed:
      tampered.code === Code.OK
        ? describe(tampered)
        : `${describe(tampered)}${refusalSigned ? ', refusal signed' : ', refusal NOT signed'}`,
    pass: refusedWith(Code.UNAUTHENTICATED, 'bad_signature')(tampered) && refusalSigned,
  });

  // Our client's certificate, a message signed with another service's pair key (the flow's wrong caller).
  const other = spiffeIdFor(spec.wrong.service, {
    trustDomain: kit.trustDomain,
    namespace: spec.wrong.namespace ?? kit.namespace,
  });
  cell(
    'other_service_key',
    'UNAUTHENTICATED bad_signature',
    await probeCall(as, f.path, f.body, signedAs(other)),
    refusedWith(Code.UNAUTHENTICATED, 'bad_signature'),
  );

  cells.push({
    probe: 'legitimate',
    expected: 'reaches the handler; response signature verified',
    observed: legit.observed,
    pass: legit.pass,
  });
  return {
    flow: flowName(spec),
    client: spec.client,
    server: spec.server,
    rpc: f.path.slice(1),
    address: f.target.address,
    cells,
  };
}

/** Whether a refusal carries the server's signature over its status code and reason. */
function verifiesStatus(
  signer: MessageSigner,
  f: Prepared,
  sig: { keyId: string; nonce: string },
  callerId: string,
  r: ProbeResult,
): boolean {
  const given = r.trailers[INTEGRITY_METADATA.responseSignature];
  return (
    given !== undefined &&
    signer.verifyResponse({
      path: f.path,
      keyId: sig.keyId,
      nonce: sig.nonce,
      callerId,
      serverId: f.target.serverId,
      outcome: { code: r.code, reason: r.details },
      signature: given,
    })
  );
}

/** A call its own caller must not make: refused by the policy although identity and signature are right. */
export interface DeniedReport {
  flow: string;
  rpc: string;
  expected: string;
  observed: string;
  pass: boolean;
}

const DENIED_EXPECTED = 'PERMISSION_DENIED spiffe_id_not_allowed';

/** The caller's own certificate from our CA and a correct signature: only the policy stands in the way. */
export async function probeDenied(kit: ProbeKit, spec: DeniedSpec): Promise<DeniedReport> {
  const f = prepare(kit, { ...spec, wrong: { service: spec.client } });
  const client = await kit.mint(spec.client);
  const sig = signerFor(kit).signRequest({
    path: f.path,
    callerId: client.id,
    serverId: f.target.serverId,
    body: f.body,
  });
  const r = await probeCall({ ...f.target, client }, f.path, f.body, signatureMetadata(sig));
  return {
    flow: flowName(spec),
    rpc: f.path.slice(1),
    expected: DENIED_EXPECTED,
    observed: describe(r),
    pass: refusedWith(Code.PERMISSION_DENIED, 'spiffe_id_not_allowed')(r),
  };
}

export interface VerifyReport {
  ok: boolean;
  trustDomain: string;
  keyring: KeyringState;
  flows: FlowReport[];
  /** Cells that must stay refused (security-flows.ts DENIED). */
  denied: DeniedReport[];
  failures: Array<{ flow: string; probe: ProbeName | 'denied'; expected: string; observed: string }>;
}

/** `zenmesh verify`: every flow, every probe. */
export async function verifyMesh(home: string): Promise<VerifyReport> {
  const kit = await openProbeKit(home);
  const flows = await Promise.all(FLOWS.map((spec) => probeFlow(kit, spec)));
  const denied = await Promise.all(DENIED.map((spec) => probeDenied(kit, spec)));
  const failures = [
    ...flows.flatMap((f) =>
      f.cells
        .filter((c) => !c.pass)
        .map((c) => ({ flow: f.flow, probe: c.probe, expected: c.expected, observed: c.observed })),
    ),
    ...denied
      .filter((d) => !d.pass)
      .map((d) => ({
        flow: `${d.flow} ${d.rpc}`,
        probe: 'denied' as const,
        expected: d.expected,
        observed: d.observed,
      })),
  ];
  return {
    ok: failures.length === 0,
    trustDomain: kit.trustDomain,
    keyring: readKeyringFile(kit.secretsDir),
    flows,
    denied,
    failures,
  };
}

/**
 * Whether `server` already accepts requests signed with key `version` (it re-reads the keyring on its own):
 * a legitimate call of one of its flows, signed with that version. True unless refused as unknown_key_id.
 */
export async function serverAccepts(
  kit: ProbeKit,
  server: string,
  state: KeyringState,
): Promise<{ ok: boolean; observed: string }> {
  const spec = FLOWS.find((f) => f.server === server);
  if (!spec) return { ok: true, observed: 'no signed flow to this server' };
  const f = prepare(kit, spec);
  const r = await legitimate(kit, f, signerFor(kit, state));
  return { ok: r.pass, observed: r.observed };
}

export { describe as describeProbeResult, prepare as prepareFlow };
