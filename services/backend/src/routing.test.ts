import { describe, expect, it } from 'vitest';
import { compileExpression, createExpressionCache, EXPRESSION_LIMITS } from './expression.js';
import { matchesEventType, type RoutingTable, routeEvent, transformedRequest } from './routing.js';
import { validateEventTypes } from './validate.js';

const json = (v: unknown) => ({
  type: 'order.created',
  datacontenttype: 'application/json',
  data: Buffer.from(JSON.stringify(v)),
  headers: { 'x-env': 'prod' },
});

describe('event type patterns', () => {
  it.each([
    [[], 'anything.at.all', true],
    [['*'], 'order', true],
    [['*'], 'order.created', true],
    [['order.*'], 'order.created', true],
    [['order.*'], 'order.line.added', true],
    [['order.*'], 'order', false],
    [['order.*'], 'orders.created', false],
    [['order.*.failed'], 'order.payment.failed', true],
    [['order.*.failed'], 'order.payment.retry.failed', false],
    [['order.*.failed'], 'order.failed', false],
    [['order.created'], 'order.created', true],
    [['order.created'], 'order.created.v2', false],
    [['invoice.*', 'order.created'], 'order.created', true],
  ] as const)('%j matches %s: %s', (patterns, type, expected) => {
    expect(matchesEventType(patterns, type)).toBe(expected);
  });

  it('refuses a * inside a segment', () => {
    expect(() => validateEventTypes(['order*'])).toThrow('invalid_event_type_pattern');
    expect(() => validateEventTypes(['order.cre*'])).toThrow('invalid_event_type_pattern');
    expect(validateEventTypes(['order.*', '*'])).toEqual(['*', 'order.*']);
  });
});

describe('CEL expressions', () => {
  it('refuses a malformed filter with the line and column of the error', () => {
    expect(() => compileExpression('filter', 'body.amount >')).toThrow(
      /^invalid_filter: 1:13: found > but expecting/,
    );
    expect(() => compileExpression('transform', '{"body": body.id,\n  "x": }')).toThrow(
      /^invalid_transform: 2:8: /,
    );
  });

  it('refuses an unknown variable with its position', () => {
    expect(() => compileExpression('filter', 'type == "a" && process.env.X == "1"')).toThrow(
      "invalid_filter: 1:16: unknown variable 'process' (use body, headers, type)",
    );
  });

  it('refuses a filter that would run too long: comprehensions nested three deep', () => {
    expect(() =>
      compileExpression('filter', 'body.a.all(x, body.a.all(y, body.a.all(z, x + y + z > 0)))'),
    ).toThrow('invalid_filter: would run too long: comprehensions nested 3 deep, at most 2');
  });

  it('refuses an over-long or over-large expression', () => {
    expect(() => compileExpression('filter', `type == "${'a'.repeat(3000)}"`)).toThrow(
      'invalid_filter: longer than 2048 characters',
    );
    const big = Array.from({ length: 100 }, (_, i) => `type == "${i}"`).join(' || ');
    expect(() => compileExpression('filter', big)).toThrow(
      /^invalid_filter: too complex: \d+ nodes, at most 256$/,
    );
  });

  it('cuts off an evaluation past its step budget, with the reason', () => {
    const f = compileExpression('filter', 'body.a.all(x, body.a.all(y, x != y || x == y))');
    const items = Array.from({ length: 500 }, (_, i) => i);
    // Whichever bound comes first on this machine: the steps or the wall clock.
    expect(f.evaluate({ body: { a: items }, headers: {}, type: 't' })).toEqual({
      ok: false,
      error: expect.stringMatching(
        new RegExp(
          `^cut off: (more than ${EXPRESSION_LIMITS.maxSteps} steps|longer than ${EXPRESSION_LIMITS.maxMs} ms)$`,
        ),
      ),
    });
    // The budget is per evaluation: a small input right after runs fine.
    expect(f.evaluate({ body: { a: [1, 2] }, headers: {}, type: 't' })).toEqual({ ok: true, value: true });
  });

  it('evaluates over body, headers and type; RE2 regular expressions', () => {
    const f = compileExpression(
      'filter',
      'type.startsWith("order.") && body.amount > 100 && headers["x-env"] == "prod" && body.sku.matches("^A-[0-9]+$")',
    );
    const input = { body: { amount: 150, sku: 'A-17' }, headers: { 'x-env': 'prod' }, type: 'order.paid' };
    expect(f.evaluate(input)).toEqual({ ok: true, value: true });
    expect(f.evaluate({ ...input, body: { amount: 50, sku: 'A-17' } })).toEqual({ ok: true, value: false });
    expect(f.evaluate({ ...input, body: {} })).toMatchObject({
      ok: false,
      error: expect.stringContaining('amount'),
    });
  });
});

describe('the compiled-expression cache', () => {
  it('compiles once per (kind, source), keeps at most max, and still refuses what does not compile', () => {
    const compile = createExpressionCache(2);
    const a = compile('filter', 'type == "a"');
    expect(compile('filter', 'type == "a"')).toBe(a);
    expect(compile('transform', 'type == "a"')).not.toBe(a);
    compile('filter', 'type == "b"');
    expect(compile('filter', 'type == "a"')).not.toBe(a);
    expect(() => compile('filter', 'type ==')).toThrow(/^invalid_filter: /);
  });
});

describe('transformation results', () => {
  it('takes a body and headers', () => {
    const out = transformedRequest({ body: { id: 1 }, headers: { 'X-Kind': 'order' } });
    expect(Buffer.from(out.body ?? []).toString()).toBe('{"id":1}');
    expect(out.headers).toEqual({ 'x-kind': 'order' });
    expect(transformedRequest({ headers: {} })).toEqual({ body: null, headers: {} });
  });

  it.each([
    [[1], 'transformation must produce a map'],
    [{ body: 1, extra: 2 }, "unknown key 'extra'"],
    [{ headers: { 'webhook-signature': 'v1,x' } }, "header 'webhook-signature' is set by the mesh"],
    [{ headers: { 'content-type': 'text/plain' } }, "header 'content-type' is set by the mesh"],
    [{ headers: { 'bad name': 'x' } }, "invalid header name 'bad name'"],
    [{ headers: { 'x-a': 'line\nbreak' } }, "header 'x-a' must be printable ASCII"],
    [{ headers: { 'x-a': 1 } }, "header 'x-a' must be printable ASCII"],
    [{ body: 'x'.repeat(1024 * 1024 + 1) }, 'body larger than 1 MiB'],
  ])('refuses %#', (value, message) => {
    expect(() => transformedRequest(value)).toThrow(message);
  });
});

describe('routeEvent', () => {
  const endpoints = [
    { id: 'ep_a', eventTypes: ['order.*'] },
    { id: 'ep_b', eventTypes: [] },
    { id: 'ep_c', eventTypes: ['invoice.*'] },
  ];

  it('mode all: every endpoint whose types match, as before connections', () => {
    const table: RoutingTable = { mode: 'all', endpoints, connections: [] };
    expect(routeEvent(table, json({})).map((r) => r.endpointId)).toEqual(['ep_a', 'ep_b']);
  });

  it('mode connections: only connected endpoints, their filter decides, their transformation shapes', () => {
    const table: RoutingTable = {
      mode: 'connections',
      endpoints,
      connections: [
        { id: 'con_1', endpointId: 'ep_a', filter: 'body.amount > 100', transform: '' },
        {
          id: 'con_2',
          endpointId: 'ep_b',
          filter: '',
          transform: '{"body": {"id": body.id}, "headers": {"x-env": headers["x-env"]}}',
        },
        // Connected, but its event types do not match: no delivery.
        { id: 'con_3', endpointId: 'ep_c', filter: '', transform: '' },
      ],
    };
    const small = routeEvent(table, json({ id: 7, amount: 5 }));
    expect(small).toEqual([
      {
        endpointId: 'ep_b',
        connectionId: 'con_2',
        body: Buffer.from('{"id":7}'),
        headers: { 'x-env': 'prod' },
        error: null,
      },
    ]);
    expect(routeEvent(table, json({ id: 7, amount: 500 })).map((r) => r.connectionId)).toEqual([
      'con_1',
      'con_2',
    ]);
  });

  it('a failing filter or transformation routes a delivery that is dead with the reason', () => {
    const table: RoutingTable = {
      mode: 'connections',
      endpoints,
      connections: [
        { id: 'con_1', endpointId: 'ep_a', filter: 'body.missing > 1', transform: '' },
        { id: 'con_2', endpointId: 'ep_b', filter: '', transform: '{"body": body.id / 0}' },
      ],
    };
    const routed = routeEvent(table, json({ id: 7 }));
    expect(routed.map((r) => r.error)).toEqual([
      expect.stringMatching(/^filter_failed: .*missing/),
      expect.stringMatching(/^transform_failed: /),
    ]);
  });

  it('a non-JSON body is null to expressions', () => {
    const table: RoutingTable = {
      mode: 'connections',
      endpoints,
      connections: [{ id: 'con_1', endpointId: 'ep_b', filter: 'body == null', transform: '' }],
    };
    const event = { ...json({}), datacontenttype: 'text/plain' };
    expect(routeEvent(table, event)).toHaveLength(1);
  });
});
