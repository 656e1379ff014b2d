import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base32,
  createMessageKeyring,
  createMessageSigner,
  type KeyringState,
  loadMasterKey,
  type MessageSigner,
  readKeyringFile,
} from '@zenmesh/crypto';
import { joinTrustDomain, mintJoinToken } from '@zenmesh/identity';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueSvidWithKey,
  parseSpiffeId,
  spiffeIdFor,
  spiffeIdFromCertificate,
} from '@zenmesh/pki';
import {
  CaService,
  DeliveryService,
  EgressService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import {
  Code,
  encodeRequest,
  INTEGRITY_METADATA,
  type ProbeResult,
  probeCall,
  signatureMetadata,
} from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { type Endpoints, paths, readEndpoints } from '../home.js';

/** The attacks `zenmesh verify` tries on every internal flow, and the legitimate call that must pass. */
export const PROBES = [
  'no_client_cert',
  'foreign_trust_domain',
  'wrong_spiffe_id',
  'no_hmac',
  'bad_hmac',
  'stale_timestamp',
  'replayed_nonce',
  'legitimate',
] as const;
export type ProbeName = (typeof PROBES)[number];

interface FlowSpec {
  client: string;
  server: string;
  // biome-ignore lint/suspicious/noExplicitAny: a table of different services
  service: any;
  method: string;
  /** A request whose handler has no lasting effect. */
  request: () => Record<string, unknown>;
  /** A SPIFFE ID from our own CA that the policy does not allow for this RPC. */
  wrong: { service: string; namespace?: string };
}

const randomId = (prefix: string) => `${prefix}_${base32(randomBytes(16))}`;

/** Every internal flow of the security matrix (DESIGN.md "Flows and the security matrix"). */
export const FLOWS: readonly FlowSpec[] = [
  {
    client: 'bff',
    server: 'backend',
    service: TenantService,
    method: 'listTenants',
    request: () => ({}),
    wrong: { service: 'ingester' },
  },
  {
    client: 'bff',
    server: 'token',
    service: TokenService,
    method: 'verifyApiKey',
    request: () => ({ apiKey: 'zm_verify-probe-not-a-key' }),
    wrong: { service: 'ingester' },
  },
  // Any workload of the mesh may read the trust bundle, so the wrong identity is one from another namespace.
  {
    client: 'bff',
    server: 'ca',
    service: CaService,
    method: 'getTrustBundle',
    request: () => ({}),
    wrong: { service: 'bff', namespace: 'intruder' },
  },
  {
    client: 'ingester',
    server: 'backend',
    service: SourceService,
    method: 'resolveSource',
    request: () => ({ sourceId: randomId('src') }),
    wrong: { service: 'bff' },
  },
  {
    client: 'ingester',
    server: 'egress',
    service: EgressService,
    method: 'dispatch',
    request: () => ({ eventId: randomId('evt') }),
    wrong: { service: 'bff' },
  },
  {
    client: 'egress',
    server: 'backend',
    service: DeliveryService,
    method: 'leaseDeliveries',
    // Leases only deliveries of an event that does not exist: nothing is taken from the real egress.
    request: () => ({ max: 1, leaseMs: 1000, eventId: randomId('evt') }),
    wrong: { service: 'ingester' },
  },
];

export const flowName = (f: { client: string; server: string }) => `${f.client} → ${f.server}`;

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

/** What probing needs from the local state directory: addresses, the bundle, the master key and keyring. */
export interface ProbeKit {
  trustDomain: string;
  namespace: string;
  endpoints: Endpoints;
  bundle: string;
  foreignCa: CertificateAuthority;
  masterKey: Buffer;
  secretsDir: string;
  /**
   * An SVID for `sa/<service>` in `namespace`: from the mesh's CA through a probe join token (short-lived and
   * not tracked as a workload, so it never holds up a CA rotation), or signed locally by `issuer` (a foreign CA).
   */
  mint(
    service: string,
    namespace?: string,
    issuer?: CertificateAuthority,
  ): Promise<{ cert: string; key: string; id: string }>;
}

export async function openProbeKit(home: string): Promise<ProbeKit> {
  const p = paths(home);
  const endpoints = readEndpoints(home) as Endpoints & { caJoin?: string };
  let cliId: string;
  let bundle: string;
  try {
    cliId = spiffeIdFromCertificate(readFileSync(join(p.svids, 'cli', 'svid.pem'), 'utf8'));
    bundle = readFileSync(join(p.ca, 'bundle.pem'), 'utf8');
  } catch (err) {
    throw new CliError('ERR_STATE', `cannot read the local trust domain under ${home}`, { cause: err });
  }
  const joinAddress = endpoints.caJoin;
  if (!joinAddress) throw new CliError('ERR_STATE', 'endpoints.json has no CA join address (caJoin)');
  const parsed = parseSpiffeId(cliId);
  const trustDomain = parsed.trustDomain;
  const namespace = parsed.namespace ?? 'zenmesh';
  const masterKey = loadMasterKey(p.secrets);
  const foreignCa = await createCertificateAuthority({
    trustDomain: 'attacker.example',
    commonName: 'verify foreign CA',
  });
  const caSpiffeId = spiffeIdFor('ca', { trustDomain, namespace });
  return {
    trustDomain,
    namespace,
    endpoints,
    bundle,
    foreignCa,
    masterKey,
    secretsDir: p.secrets,
    async mint(service, ns = namespace, issuer) {
      if (issuer) {
        const id = spiffeIdFor(service, { trustDomain: issuer.trustDomain, namespace: ns });
        const svid = await issueSvidWithKey({ ca: issuer, spiffeId: id, ttlSeconds: 600 });
        return { cert: svid.certPem, key: svid.keyPem, id };
      }
      const id = spiffeIdFor(service, { trustDomain, namespace: ns });
      const keyPair = await generateKeyPair();
      const svid = await joinTrustDomain({
        joinAddress,
        joinToken: mintJoinToken(masterKey, { spiffeId: id, probe: true, ttlSeconds: 60 }).token,
        csrPem: await createCsr({ spiffeId: id, keyPair }),
        bundlePem: bundle,
        caSpiffeId,
      });
      return { cert: svid.certificatePem, key: keyPair.privateKeyPem, id };
    },
  };
}

export const signerFor = (kit: ProbeKit, state?: KeyringState, clock?: () => number): MessageSigner =>
  createMessageSigner({
    keyring: createMessageKeyring({
      masterKey: kit.masterKey,
      cluster: kit.trustDomain,
      state: state ?? readKeyringFile(kit.secretsDir),
    }),
    ...(clock ? { clock } : {}),
  });

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
  const sig = signer.signRequest({ path: f.path, callerId: client.id, body: f.body });
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
        body: result.reply ?? Buffer.alloc(0),
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
  const signedAs = (id: string, s: MessageSigner = signer) =>
    signatureMetadata(s.signRequest({ path: f.path, callerId: id, body: f.body }));

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
    await probeCall({ ...f.target, client: foreign }, f.path, f.body, signedAs(foreign.id)),
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

export interface VerifyReport {
  ok: boolean;
  trustDomain: string;
  keyring: KeyringState;
  flows: FlowReport[];
  failures: Array<{ flow: string; probe: ProbeName; expected: string; observed: string }>;
}

/** `zenmesh verify`: every flow, every probe. */
export async function verifyMesh(home: string): Promise<VerifyReport> {
  const kit = await openProbeKit(home);
  const flows = await Promise.all(FLOWS.map((spec) => probeFlow(kit, spec)));
  const failures = flows.flatMap((f) =>
    f.cells
      .filter((c) => !c.pass)
      .map((c) => ({ flow: f.flow, probe: c.probe, expected: c.expected, observed: c.observed })),
  );
  return {
    ok: failures.length === 0,
    trustDomain: kit.trustDomain,
    keyring: readKeyringFile(kit.secretsDir),
    flows,
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
