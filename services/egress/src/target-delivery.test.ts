import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@zenmesh/telemetry';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryEngine, type DeliveryEngine } from './delivery-engine.js';
import { createFakeBackend, leased, type Received, secret, startTarget } from './test-fixtures.js';

const logger = createLogger('egress', { level: 'silent' });
let backend: ReturnType<typeof createFakeBackend>;
let engine: DeliveryEngine | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await engine?.stop(1_000);
  engine = undefined;
  for (const close of closers.splice(0)) await close();
});

const run = (options: Partial<Parameters<typeof createDeliveryEngine>[0]> = {}) => {
  backend = backend ?? createFakeBackend();
  engine = createDeliveryEngine({ deliveries: backend.client, logger, pollMs: 20, ...options });
  engine.start();
};

describe('SSRF protection on the address actually connected to', () => {
  it('refuses a loopback target by default, without sending it a byte', async () => {
    backend = createFakeBackend();
    const target = await startTarget((res) => res.writeHead(200).end());
    closers.push(target.close);
    backend.queue.push(leased(target.url, [secret()]));
    run();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({
      statusCode: 0,
      error: 'ssrf_blocked: 127.0.0.1 is loopback; not in the egress allow-list',
    });
    expect(target.received).toHaveLength(0);
  });

  it('refuses a host name that resolves to loopback (localhost) the same way', async () => {
    backend = createFakeBackend();
    const target = await startTarget((res) => res.writeHead(200).end());
    closers.push(target.close);
    backend.queue.push(leased(target.url.replace('127.0.0.1', 'localhost'), [secret()]));
    run();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]?.error).toMatch(/^ssrf_blocked: (127\.0\.0\.1|::1) is loopback/);
    expect(target.received).toHaveLength(0);
  });

  it('refuses the cloud metadata address even when loopback is allowed', async () => {
    backend = createFakeBackend();
    backend.queue.push(leased('http://169.254.169.254/latest/meta-data/', [secret()]));
    run({ targetPolicy: { allow: ['127.0.0.0/8'] } });
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]?.error).toBe(
      'ssrf_blocked: 169.254.169.254 is linkLocal; not in the egress allow-list',
    );
  });

  it('delivers to an allow-listed loopback target, by address and by name', async () => {
    backend = createFakeBackend();
    const target = await startTarget((res) => res.writeHead(204).end());
    closers.push(target.close);
    backend.queue.push(
      leased(target.url, [secret()]),
      leased(target.url.replace('127.0.0.1', 'localhost'), [secret()]),
    );
    run({ targetPolicy: { allow: ['127.0.0.0/8', '::1/128'] } });
    await expect.poll(() => backend.reports.length).toBe(2);
    expect(backend.reports.map((r) => r.statusCode)).toEqual([204, 204]);
  });
});

describe('CloudEvents structured mode', () => {
  it('sends the whole event as application/cloudevents+json, signed over that body', async () => {
    backend = createFakeBackend();
    const target = await startTarget((res) => res.writeHead(200).end());
    closers.push(target.close);
    const s = secret();
    const json = leased(target.url, [s], '{"order":42}');
    json.cloudeventsMode = 'structured';
    const bytes = leased(target.url, [s]);
    bytes.cloudeventsMode = 'structured';
    if (bytes.event) {
      bytes.event.datacontenttype = 'application/octet-stream';
      bytes.event.data = new Uint8Array([0xff, 0x00]);
    }
    backend.queue.push(json, bytes);
    run({ targetPolicy: { allow: ['127.0.0.0/8'] } });
    await expect.poll(() => backend.reports.length).toBe(2);
    const byId = (id: string | undefined) =>
      target.received.find((r) => r.headers['webhook-id'] === id) as Received;
    const got = byId(json.event?.id);
    expect(got.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    expect(got.headers['ce-id']).toBeUndefined();
    expect(new Webhook(s).verify(got.body.toString(), got.headers as Record<string, string>)).toEqual({
      specversion: '1.0',
      id: json.event?.id,
      source: '/sources/src_x',
      type: 'order.created',
      datacontenttype: 'application/json',
      time: '2026-01-02T03:04:05.678Z',
      data: { order: 42 },
    });
    const binary = JSON.parse(byId(bytes.event?.id).body.toString()) as Record<string, unknown>;
    expect(binary.data_base64).toBe('/wA=');
    expect(binary.data).toBeUndefined();
  });
});

describe('per-endpoint mTLS client certificate', () => {
  let dir: string;
  let pem: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>;
  let server: Server;
  let url: string;
  const seen: { authorized: boolean; cn: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zm-mtls-'));
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    ossl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const who of ['server', 'client']) {
      ossl('req', ...ec, '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
      ossl(
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${who}.ext`,
        '-out',
        `${who}.pem`,
      );
    }
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    pem = {
      ca: read('ca.pem'),
      serverCert: read('server.pem'),
      serverKey: read('server.key'),
      clientCert: read('client.pem'),
      clientKey: read('client.key'),
    };
    server = createServer(
      { cert: pem.serverCert, key: pem.serverKey, ca: pem.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const socket = req.socket as import('node:tls').TLSSocket;
        seen.push({
          authorized: socket.authorized,
          cn: String(socket.getPeerCertificate().subject?.CN ?? ''),
        });
        req.resume();
        res.writeHead(socket.authorized ? 200 : 401).end();
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('presents the endpoint certificate to that endpoint only, verifying the target against the trusted CA', async () => {
    backend = createFakeBackend();
    const withCert = leased(url, [secret()]);
    withCert.clientCertPem = pem.clientCert;
    withCert.clientKeyPem = pem.clientKey;
    const without = leased(url, [secret()]);
    backend.queue.push(withCert, without);
    run({ targetPolicy: { allow: ['127.0.0.0/8'] }, targetCa: pem.ca });
    await expect.poll(() => backend.reports.length).toBe(2);
    const status = Object.fromEntries(backend.reports.map((r) => [r.deliveryId, r.statusCode]));
    expect(status).toEqual({ [withCert.delivery?.id ?? '']: 200, [without.delivery?.id ?? '']: 401 });
    expect(seen).toContainEqual({ authorized: true, cn: 'client' });
  });

  it('refuses a target whose certificate does not chain to a trusted root', async () => {
    backend = createFakeBackend();
    backend.queue.push(leased(url, [secret()]));
    run({ targetPolicy: { allow: ['127.0.0.0/8'] } });
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({
      statusCode: 0,
      error: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify/i),
    });
  });
});
