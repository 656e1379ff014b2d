import { invalid } from './errors.js';

/**
 * An endpoint's ordering key (docs/routing.md "Ordering"): where the key of each delivery is read.
 * - `$.customer.id`, `$.items[0].sku`, `$["order-id"]`: a path into the JSON body (a small subset of
 *   JSONPath, RFC 9535: member names and array indexes only, no wildcards, filters or recursion);
 * - `header:x-customer`: a request header as stored with the event (lower-case name).
 * Deliveries with the same key to the same endpoint go out one at a time, in the order recorded.
 */
export type OrderingKeySpec =
  | { kind: 'body'; path: ReadonlyArray<string | number> }
  | { kind: 'header'; name: string };

export const MAX_ORDERING_KEY_CHARS = 256;
const MAX_SEGMENTS = 16;
/** A key longer than this is cut: two keys that agree this far share one queue (stricter, never looser). */
export const MAX_KEY_VALUE_CHARS = 256;
/** The key of a delivery whose body or headers have no value at the path: one queue of its own. */
export const MISSING_KEY = '';

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

const bad = (why: string) => invalid(`invalid_ordering_key: ${why}`);

/** Parses and validates an ordering key; refuses with `invalid_ordering_key: <why> at <position>`. */
export function parseOrderingKey(spec: string): OrderingKeySpec {
  if (spec.length === 0 || spec.length > MAX_ORDERING_KEY_CHARS) {
    throw bad(`1 to ${MAX_ORDERING_KEY_CHARS} characters`);
  }
  if (spec.startsWith('header:')) {
    const name = spec.slice('header:'.length);
    if (!HEADER_NAME.test(name)) throw bad('a header name in lower case, e.g. header:x-customer-id');
    return { kind: 'header', name };
  }
  if (!spec.startsWith('$')) throw bad('starts with "$." (a JSON path) or "header:" (a header)');
  const path: Array<string | number> = [];
  let i = 1;
  while (i < spec.length) {
    if (path.length >= MAX_SEGMENTS) throw bad(`at most ${MAX_SEGMENTS} segments`);
    const rest = spec.slice(i);
    if (rest.startsWith('.')) {
      const m = IDENT.exec(rest.slice(1));
      if (m === null) throw bad(`expected a member name at ${i + 2}`);
      path.push(m[0]);
      i += 1 + m[0].length;
    } else if (rest.startsWith('["')) {
      const end = rest.indexOf('"]', 2);
      const name = end < 0 ? '' : rest.slice(2, end);
      if (end < 0 || name.length === 0 || /["\\]/.test(name)) {
        throw bad(`expected ["name"] at ${i + 1}`);
      }
      path.push(name);
      i += end + 2;
    } else if (rest.startsWith('[')) {
      const m = /^\[(0|[1-9][0-9]{0,5})\]/.exec(rest);
      if (m === null) throw bad(`expected [index] at ${i + 1}`);
      path.push(Number(m[1]));
      i += m[0].length;
    } else {
      throw bad(`unexpected "${rest[0]}" at ${i + 1}`);
    }
  }
  if (path.length === 0) throw bad('the path names no member ("$" alone is the whole body)');
  return { kind: 'body', path };
}

/** What the endpoint stores: the key as given, or null for none ('' or absent). */
export function validateOrderingKey(spec: string | undefined): string | null {
  if (spec === undefined || spec === '') return null;
  parseOrderingKey(spec);
  return spec;
}

const keyText = (value: unknown): string => {
  if (value === undefined || value === null) return MISSING_KEY;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.slice(0, MAX_KEY_VALUE_CHARS);
};

/**
 * The key of one delivery: the value at the path (a string as is, anything else as its JSON text), or
 * MISSING_KEY when the body is not JSON or has nothing there. `body` is the parsed JSON body (or null).
 */
export function orderingKeyOf(
  spec: OrderingKeySpec,
  body: unknown,
  headers: Readonly<Record<string, string>>,
): string {
  if (spec.kind === 'header') return keyText(headers[spec.name]);
  let at: unknown = body;
  for (const segment of spec.path) {
    if (typeof segment === 'number') {
      at = Array.isArray(at) ? at[segment] : undefined;
    } else {
      at =
        at !== null && typeof at === 'object' && !Array.isArray(at) && Object.hasOwn(at, segment)
          ? (at as Record<string, unknown>)[segment]
          : undefined;
    }
    if (at === undefined) return MISSING_KEY;
  }
  return keyText(at);
}
