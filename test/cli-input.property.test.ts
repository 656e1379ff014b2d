// Issue 14: CLI input fuzzing (fast-check, fixed seed). The real `zenmesh` program (createProgram, as bin.js
// runs it) is given arbitrary arguments after each resource command, against an API that is not there
// (127.0.0.1:1) and an empty home. Whatever the arguments, the program must end in a usage refusal
// (commander's error, exit 2 in bin.js) or a CliError with a stable ERR_* code — never another exception,
// which bin.js would print as a stack trace — and it must never reach a network call it cannot make sense of.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProgram } from '@zenmesh/cli';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

const SEED = 0x14_c11;
const home = mkdtempSync(join(tmpdir(), 'zm-cli-fuzz-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const COMMANDS = [
  ['tenant', 'create'],
  ['tenant', 'list'],
  ['source', 'create'],
  ['source', 'update'],
  ['source', 'rotate-secret'],
  ['source', 'list'],
  ['endpoint', 'create'],
  ['endpoint', 'update'],
  ['endpoint', 'list'],
  ['connection', 'create'],
  ['connection', 'update'],
  ['connection', 'delete'],
  ['events', 'show'],
  ['events', 'list'],
  ['deliveries', 'attempts'],
  ['deliveries', 'list'],
  ['replay', 'delivery'],
  ['replay', 'endpoint'],
  ['replay', 'event'],
  ['audit', 'list'],
] as const;
const FLAGS = [
  '--after-seq',
  '--all-event-types',
  '--cursor',
  '--delivery-id-header',
  '--disable',
  '--enable',
  '--endpoint',
  '--event',
  '--event-type',
  '--event-type-header',
  '--header',
  '--name',
  '--no-client-cert',
  '--prefix',
  '--provider',
  '--secret',
  '--since',
  '--source',
  '--tenant',
  '--type',
  '--until',
  '--url',
  '--max-concurrency',
  '--previous-valid',
  '--limit',
] as const;
const word = fc.oneof(
  fc.constantFrom(...FLAGS),
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '0',
    '-1',
    '1e309',
    'NaN',
    '9'.repeat(40),
    'http://[::1',
    'ftp://x',
    '3d',
    '2026-13-45',
    '',
  ),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Runs one command line in-process; resolves with how it ended. */
async function run(args: readonly string[]): Promise<{ kind: 'exit' | 'usage' | 'cli'; code?: string }> {
  let exit: number | undefined;
  const program = createProgram((code) => {
    exit = code;
  });
  const quiet = { writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined };
  program.exitOverride().configureOutput(quiet);
  for (const c of program.commands) {
    c.exitOverride().configureOutput(quiet);
    for (const s of c.commands) s.exitOverride().configureOutput(quiet);
  }
  try {
    await program.parseAsync(
      ['--home', home, '--api-url', 'http://127.0.0.1:1', '--api-key', 'zmk_fuzz', '--json', ...args],
      { from: 'user' },
    );
    return { kind: 'exit', code: String(exit) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // commander's own refusals (unknown option, missing argument, an option value's parser refusing).
    if (typeof code === 'string' && code.startsWith('commander.')) return { kind: 'usage', code };
    if ((err as Error).name === 'CliError' && typeof code === 'string' && /^ERR_[A-Z_]+$/.test(code))
      return { kind: 'cli', code };
    throw err;
  }
}

describe('zenmesh resource commands with arbitrary arguments', () => {
  it('end in a usage refusal or a CliError with an ERR_* code, never another exception', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), fc.array(word, { maxLength: 8 }), async (cmd, rest) => {
        const r = await run([...cmd, ...rest]);
        // A command that ran to its end talked to no API (there is none): it must not report success.
        if (r.kind === 'exit') expect(r.code, `${cmd.join(' ')} ${JSON.stringify(rest)}`).not.toBe('0');
        seen.set(`${r.kind}:${r.code}`, (seen.get(`${r.kind}:${r.code}`) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: 300 },
    );
    // Both kinds of refusal were reached (the arbitraries are not all stopped at the parser).
    expect([...seen.keys()].some((k) => k.startsWith('usage:'))).toBe(true);
    expect([...seen.keys()].some((k) => k.startsWith('cli:'))).toBe(true);
    // Nothing was written into the home for a refused command.
    expect(readdirSync(home)).toEqual([]);
  }, 60_000);
});
