import {
  CelScalar,
  type CelValue,
  celEnv,
  celFunc,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  parse,
  plan,
} from '@bufbuild/cel';
import { invalid } from './errors.js';

/**
 * Connection filters and transformations are CEL (https://cel.dev) run by @bufbuild/cel
 * (docs/decisions/0007-routing-expression-language.md): no loops but the bounded macros, no I/O, RE2
 * regular expressions (linear time). Cost is bounded twice:
 * - when saved: source length, AST size and how deeply comprehensions nest (each level multiplies the
 *   work by the size of a list in the event) — over a limit is refused with the reason;
 * - when run: every comprehension step spends one unit of a per-evaluation budget (steps and a wall-clock
 *   deadline); past either the evaluation stops with `cut off: …`.
 */
export const EXPRESSION_LIMITS = {
  maxChars: 2048,
  maxNodes: 256,
  maxComprehensionDepth: 2,
  maxSteps: 10_000,
  maxMs: 50,
} as const;

export type ExpressionKind = 'filter' | 'transform';

/** The variables an expression sees: the event's JSON body (null when not JSON), its headers and type. */
export const EXPRESSION_VARIABLES = ['body', 'headers', 'type'] as const;

export interface ExpressionInput {
  body: unknown;
  headers: Record<string, string>;
  type: string;
}

export type Evaluation = { ok: true; value: unknown } | { ok: false; error: string };

export interface CompiledExpression {
  readonly source: string;
  evaluate(input: ExpressionInput): Evaluation;
}

type Expr = ReturnType<typeof parse>['expr'];

const TICK = 'zm_budget';

/** "line:column" of a character offset, 1-based like the parser's own messages. */
function position(source: string, offset: number): string {
  const before = source.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${line}:${column}`;
}

const refuse = (kind: ExpressionKind, message: string) => invalid(`invalid_${kind}: ${message}`);

interface Walk {
  nodes: number;
  maxDepth: number;
  unknown: { name: string; id: bigint } | undefined;
}

/** Counts nodes, measures comprehension nesting, finds free variables, and wraps each loop condition in the budget. */
function walk(expr: Expr | undefined, bound: ReadonlySet<string>, depth: number, w: Walk): void {
  if (expr === undefined) return;
  w.nodes += 1;
  const k = expr.exprKind;
  switch (k.case) {
    case 'identExpr':
      if (!bound.has(k.value.name) && w.unknown === undefined)
        w.unknown = { name: k.value.name, id: expr.id };
      return;
    case 'selectExpr':
      walk(k.value.operand, bound, depth, w);
      return;
    case 'callExpr':
      walk(k.value.target, bound, depth, w);
      for (const a of k.value.args) walk(a, bound, depth, w);
      return;
    case 'listExpr':
      for (const e of k.value.elements) walk(e, bound, depth, w);
      return;
    case 'structExpr':
      for (const e of k.value.entries) {
        if (e.keyKind.case === 'mapKey') walk(e.keyKind.value, bound, depth, w);
        walk(e.value, bound, depth, w);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...bound, c.accuVar, c.iterVar, ...(c.iterVar2 === '' ? [] : [c.iterVar2])]);
      w.maxDepth = Math.max(w.maxDepth, depth + 1);
      walk(c.iterRange, bound, depth, w);
      walk(c.accuInit, bound, depth, w);
      walk(c.loopCondition, inner, depth + 1, w);
      walk(c.loopStep, inner, depth + 1, w);
      walk(c.result, new Set([...bound, c.accuVar]), depth, w);
      const condition = c.loopCondition;
      if (condition !== undefined) {
        c.loopCondition = {
          ...condition,
          exprKind: { case: 'callExpr', value: { ...emptyCall(), function: TICK, args: [condition] } },
        };
      }
      return;
    }
    default:
      return;
  }
}

const emptyCall = () =>
  ({ $typeName: 'cel.expr.Expr.Call', function: '', args: [] }) as unknown as Extract<
    Expr['exprKind'],
    { case: 'callExpr' }
  >['value'];

/** CEL value → plain JSON value (maps with string keys, lists, numbers, strings, booleans, null). */
export function celToJson(v: CelValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('a number that JSON cannot hold');
    return v;
  }
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new TypeError('an integer beyond 2^53');
    return Number(v);
  }
  if (isCelUint(v)) return celToJson(v.value);
  if (isCelList(v)) return [...v].map(celToJson);
  if (isCelMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of v) {
      if (typeof key !== 'string') throw new TypeError('a map key that is not a string');
      out[key] = celToJson(value);
    }
    return out;
  }
  throw new TypeError('a value that is not JSON (bytes, timestamp, type or message)');
}

/**
 * Parses and checks an expression, refusing (INVALID_ARGUMENT `invalid_<kind>: <line>:<col>: …`) a syntax
 * error, an unknown variable, or one over a size limit. The compiled program keeps its own budget.
 */
export function compileExpression(kind: ExpressionKind, source: string): CompiledExpression {
  if (source.length > EXPRESSION_LIMITS.maxChars) {
    throw refuse(kind, `longer than ${EXPRESSION_LIMITS.maxChars} characters`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    const e = err as { location?: { start?: { offset?: number } }; rawMessage?: unknown; message?: unknown };
    const offset = e.location?.start?.offset;
    const text = String(e.rawMessage ?? e.message ?? 'syntax error');
    throw refuse(kind, offset === undefined ? text : `${position(source, offset)}: ${text}`);
  }
  const w: Walk = { nodes: 0, maxDepth: 0, unknown: undefined };
  walk(parsed.expr, new Set(EXPRESSION_VARIABLES), 0, w);
  if (w.unknown !== undefined) {
    const offset = parsed.sourceInfo?.positions[String(w.unknown.id)] ?? 0;
    throw refuse(
      kind,
      `${position(source, offset)}: unknown variable '${w.unknown.name}' (use ${EXPRESSION_VARIABLES.join(', ')})`,
    );
  }
  if (w.nodes > EXPRESSION_LIMITS.maxNodes) {
    throw refuse(kind, `too complex: ${w.nodes} nodes, at most ${EXPRESSION_LIMITS.maxNodes}`);
  }
  if (w.maxDepth > EXPRESSION_LIMITS.maxComprehensionDepth) {
    throw refuse(
      kind,
      `would run too long: comprehensions nested ${w.maxDepth} deep, at most ${EXPRESSION_LIMITS.maxComprehensionDepth}`,
    );
  }
  const budget = { steps: 0, deadline: 0, exceeded: undefined as Error | undefined };
  const tick = celFunc(TICK, [CelScalar.BOOL], CelScalar.BOOL, (condition) => {
    // Once over, every later step fails at once with the same error: CEL's error absorption would
    // otherwise carry on through the outer loops, each step paying for a new Error and its stack.
    if (budget.exceeded !== undefined) throw budget.exceeded;
    budget.steps += 1;
    if (budget.steps > EXPRESSION_LIMITS.maxSteps) {
      budget.exceeded = new Error(`cut off: more than ${EXPRESSION_LIMITS.maxSteps} steps`);
    } else if ((budget.steps & 63) === 0 && performance.now() > budget.deadline) {
      budget.exceeded = new Error(`cut off: longer than ${EXPRESSION_LIMITS.maxMs} ms`);
    }
    if (budget.exceeded !== undefined) throw budget.exceeded;
    return condition;
  });
  const program = plan(celEnv({ funcs: [tick] }), parsed);
  return {
    source,
    evaluate(input) {
      // Evaluation is synchronous, so one budget per compiled program is never shared by two runs.
      budget.steps = 0;
      budget.exceeded = undefined;
      budget.deadline = performance.now() + EXPRESSION_LIMITS.maxMs;
      let result: ReturnType<typeof program>;
      try {
        result = program({ body: input.body as never, headers: input.headers, type: input.type });
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      if (isCelError(result)) {
        const cause = result.cause instanceof Error ? result.cause.message : '';
        return { ok: false, error: cause === '' ? result.message : cause };
      }
      try {
        return { ok: true, value: celToJson(result) };
      } catch (err) {
        return { ok: false, error: `result is ${(err as Error).message}` };
      }
    },
  };
}

export type ExpressionCompiler = (kind: ExpressionKind, source: string) => CompiledExpression;

/**
 * Compiling costs about a millisecond (parse + plan) and evaluating a typical filter tens of microseconds,
 * so the fan-out keeps compiled programs: up to `max` of them, least recently used dropped first. One cache
 * per backend instance (handlers-traffic.ts), never a module-level one.
 */
export function createExpressionCache(max = 512): ExpressionCompiler {
  const cache = new Map<string, CompiledExpression>();
  return (kind, source) => {
    const key = `${kind}\u0000${source}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const compiled = compileExpression(kind, source);
    cache.set(key, compiled);
    if (cache.size > max) cache.delete(cache.keys().next().value as string);
    return compiled;
  };
}
