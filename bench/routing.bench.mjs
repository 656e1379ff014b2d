// The fan-out decision of issue 16 (services/backend/src/routing.ts) in process: how long routeEvent takes
// per event for sources with 1, 10 and 50 filtered (and some transformed) connections, what compiling a CEL
// expression costs (paid once per expression thanks to the cache), and how long the worst runaway filter
// runs before its budget cuts it off. No database: the SQL around it is the same one or two statements as
// before connections. Bounded loops only.
import { compileExpression, createExpressionCache } from '../services/backend/dist/expression.js';
import { routeEvent } from '../services/backend/dist/routing.js';
import { percentile, progress, writeSection } from './lib/report.mjs';

const FILTER = 'body.amount >= 100 && headers["x-env"] == "prod" && type.startsWith("order.")';
const TRANSFORM =
  '{"body": {"order": body.id, "skus": body.items.map(i, i.sku)}, "headers": {"x-order": string(body.id)}}';
const body = { id: 42, amount: 500, items: Array.from({ length: 20 }, (_, i) => ({ sku: `A-${i}` })) };
const event = {
  type: 'order.created',
  datacontenttype: 'application/json',
  data: Buffer.from(JSON.stringify(body)),
  headers: { 'x-env': 'prod' },
};

const time = (fn, n) => {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    samples.push((performance.now() - t) * 1000);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
};

const rows = [];
for (const n of [1, 10, 50]) {
  const endpoints = Array.from({ length: n }, (_, i) => ({ id: `ep_${i}`, eventTypes: ['order.*'] }));
  const connections = endpoints.map((e, i) => ({
    id: `con_${i}`,
    endpointId: e.id,
    filter: FILTER,
    // Every fifth connection also transforms.
    transform: i % 5 === 0 ? TRANSFORM : '',
  }));
  const compile = createExpressionCache();
  const table = { mode: 'connections', endpoints, connections };
  for (let i = 0; i < 200; i++) routeEvent(table, event, compile);
  progress(`routing: ${n} connections`);
  const r = time(() => routeEvent(table, event, compile), 2000);
  rows.push(
    `| ${n} filtered connections (${Math.ceil(n / 5)} transformed) | ${r.p50.toFixed(0)} µs | ${r.p99.toFixed(0)} µs |`,
  );
}
const allTable = {
  mode: 'all',
  endpoints: Array.from({ length: 50 }, (_, i) => ({ id: `ep_${i}`, eventTypes: i % 2 ? ['order.*'] : [] })),
  connections: [],
};
const all = time(() => routeEvent(allTable, event), 5000);
rows.unshift(`| mode all, 50 endpoints (wildcards) | ${all.p50.toFixed(1)} µs | ${all.p99.toFixed(1)} µs |`);

const compileFilter = time(() => compileExpression('filter', FILTER), 500);
const compileTransform = time(() => compileExpression('transform', TRANSFORM), 500);
const runaway = compileExpression('filter', 'body.a.all(x, body.a.all(y, x != y || x == y))');
const big = { body: { a: Array.from({ length: 1000 }, (_, i) => i) }, headers: {}, type: 't' };
const cut = [];
let reason = '';
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  reason = runaway.evaluate(big).error;
  cut.push(performance.now() - t);
}

writeSection(
  'routing',
  'Routing: connections, CEL filters and transformations (issue 16)',
  `\`node bench/routing.bench.mjs\` (after \`pnpm build\`): \`routeEvent\` in process, per event, compiled
expressions cached (as the backend does). Filter \`${FILTER}\`; transformation builds a body from a 20-item list.

| source | p50 | p99 |
|---|---|---|
${rows.join('\n')}

| one-off cost | p50 | p99 |
|---|---|---|
| compile a filter (parse + plan; once per expression) | ${(compileFilter.p50 / 1000).toFixed(2)} ms | ${(compileFilter.p99 / 1000).toFixed(2)} ms |
| compile the transformation | ${(compileTransform.p50 / 1000).toFixed(2)} ms | ${(compileTransform.p99 / 1000).toFixed(2)} ms |
| a runaway filter (two nested \`all\` over 1 000 items) until cut off | ${percentile(cut, 50).toFixed(0)} ms | ${percentile(cut, 99).toFixed(0)} ms |

The runaway filter ends with \`${reason}\`; its delivery is stored dead with that reason. The p99 column
includes garbage collection and, on a shared machine, other processes' load; p50 is the cost to plan with.`,
);
progress('routing: done');
