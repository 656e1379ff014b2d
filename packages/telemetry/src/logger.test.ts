import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './index.js';

const capture = () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
};

describe('logger redaction', () => {
  it('never writes credentials from headers or secret-named fields', () => {
    const { lines, destination } = capture();
    const log = createLogger('test', { destination });
    log.info({ headers: { authorization: 'Bearer zm_topsecret1', 'x-api-key': 'zm_topsecret2' } }, 'request');
    log.info({ source: { secret: 'topsecret3', id: 'src_1' }, signingSecret: 'whsec_topsecret4' }, 'created');
    log.info({ req: { headers: { cookie: 'sid=topsecret5' } }, apiKey: 'topsecret6' }, 'nested');
    const text = lines.join('');
    expect(text).not.toMatch(/topsecret/);
    expect(text).toContain('src_1');
    expect(text.match(/\[redacted\]/g)?.length).toBe(6);
  });
});
