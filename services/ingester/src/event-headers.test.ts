import { describe, expect, it } from 'vitest';
import { eventHeaders } from './event-headers.js';

describe('the headers stored with an event', () => {
  it('keeps the webhook headers filters read, joins repeated ones, never keeps credentials', () => {
    expect(
      eventHeaders({
        'x-env': 'prod',
        'x-tags': ['a', 'b'],
        authorization: 'Bearer secret',
        'proxy-authorization': 'Basic x',
        cookie: 'session=1',
        'x-gitlab-token': 'the-source-secret',
        'x-api-key': 'k',
        connection: 'keep-alive',
        'content-length': '12',
      }),
    ).toEqual({ 'x-env': 'prod', 'x-tags': 'a, b' });
  });

  it('leaves out a value with control characters or over 4096 characters, and stops at 64 headers', () => {
    expect(eventHeaders({ 'x-a': 'a\u0000b', 'x-b': 'y'.repeat(4097), 'x-c': 'ok' })).toEqual({
      'x-c': 'ok',
    });
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`x-h${i}`, 'v']));
    expect(Object.keys(eventHeaders(many))).toHaveLength(64);
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x-h${i}`, 'v'.repeat(4000)]));
    const kept = eventHeaders(big);
    expect(Object.values(kept).join('').length).toBeLessThanOrEqual(16 * 1024);
  });
});
