import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createOutput } from '../output.js';
import { printEvent, type ShownEvent, traceLink } from './event-show.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const event: ShownEvent = {
  id: 'evt_aaaaaaaaaaaaaaaaaaaaaaaaaa',
  type: 'order.paid',
  sourceId: 'src_bbbbbbbbbbbbbbbbbbbbbbbbbb',
  receivedAt: '2026-12-04T02:00:00.000Z',
  datacontenttype: 'application/json',
  providerDeliveryId: '',
  traceId: TRACE,
  dataBase64: Buffer.from('{"card":"4242"}').toString('base64'),
};

const capture = (json: boolean, e: ShownEvent, jaeger: string | undefined) => {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  printEvent(
    createOutput(json, sink as unknown as typeof process.stdout, sink as unknown as typeof process.stderr),
    e,
    jaeger,
  );
  return text;
};

describe('traceLink', () => {
  it('builds the Jaeger trace page URL, with or without a trailing slash', () => {
    expect(traceLink(TRACE, 'http://127.0.0.1:16686')).toBe(`http://127.0.0.1:16686/trace/${TRACE}`);
    expect(traceLink(TRACE, 'https://jaeger.example.com/ui/')).toBe(
      `https://jaeger.example.com/ui/trace/${TRACE}`,
    );
  });

  it('gives no link without JAEGER_UI_URL or without a trace', () => {
    expect(traceLink(TRACE, undefined)).toBeUndefined();
    expect(traceLink(TRACE, '')).toBeUndefined();
    expect(traceLink('', 'http://127.0.0.1:16686')).toBeUndefined();
  });

  it('refuses a JAEGER_UI_URL that is not an http(s) URL', () => {
    expect(() => traceLink(TRACE, 'javascript:alert(1)')).toThrow(/must be an http\(s\) URL/);
    expect(() => traceLink(TRACE, 'not a url')).toThrow(/JAEGER_UI_URL is not a URL/);
  });
});

describe('printEvent', () => {
  it('prints the trace id and the link, never the payload', () => {
    const text = capture(false, event, 'http://127.0.0.1:16686');
    expect(text).toContain(`trace     ${TRACE}`);
    expect(text).toContain(`http://127.0.0.1:16686/trace/${TRACE}`);
    expect(text).not.toContain('4242');
    expect(text).not.toContain(event.dataBase64 as string);
  });

  it('says so when the event has no trace, and puts the link in --json output', () => {
    expect(capture(false, { ...event, traceId: '' }, undefined)).toContain('(none: tracing was off');
    const json = JSON.parse(capture(true, event, 'http://127.0.0.1:16686'));
    expect(json.traceUrl).toBe(`http://127.0.0.1:16686/trace/${TRACE}`);
    expect(json.event.traceId).toBe(TRACE);
  });
});
