import type { Sql, Statement } from './types.js';

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const texts = new Map<string, string>();

/**
 * Declares a named statement, once, at module load. A name stands for exactly one text in the
 * process: declaring it again with another text throws, since a connection that prepared the first
 * text would otherwise run it for the second. Only for statements whose text never varies (no
 * placeholders built per call): each one is kept prepared on every pooled connection.
 */
export function prepared(name: string, text: string): Statement {
  if (!NAME.test(name)) throw new TypeError(`prepared: bad statement name ${JSON.stringify(name)}`);
  const known = texts.get(name);
  if (known !== undefined && known !== text) {
    throw new TypeError(`prepared: statement ${name} declared twice with different text`);
  }
  texts.set(name, text);
  return Object.freeze({ name, text });
}

export const sqlText = (sql: Sql): string => (typeof sql === 'string' ? sql : sql.text);
