import type { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Parses environment variables with a zod object whose keys are the variable names. The first problem
 * becomes one ConfigError line naming the variable, so an operator sees exactly what to fix.
 */
export function loadConfig<S extends z.ZodRawShape>(
  schema: z.ZodObject<S>,
  env: Record<string, string | undefined> = process.env,
): z.output<z.ZodObject<S>> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty variable means "unset": `FOO= cmd` should fall back to the default, not fail validation.
    input[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = issue?.path.join('.') || 'environment';
  const shown = input[name] === undefined ? 'unset' : 'invalid';
  throw new ConfigError(`${name}: ${shown}: ${issue?.message ?? 'invalid'}`);
}
