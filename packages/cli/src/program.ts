import { Command } from 'commander';
import { registerAuditCommands } from './commands/audit.js';
import { registerCaCommands } from './commands/ca.js';
import { registerConsoleCommands } from './commands/console.js';
import { type ActionWrapper, createContextFactory } from './commands/context.js';
import { registerInitCommands } from './commands/init.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerLocalCommands } from './commands/local.js';
import { registerReplayCommands } from './commands/replay.js';
import { registerResourceCommands } from './commands/resources.js';
import { registerServiceCommands } from './commands/service.js';
import { registerTokenCommands } from './commands/token.js';
import { registerVerifyCommands } from './commands/verify.js';
import { CliError } from './errors.js';

/** Builds the `zenmesh` command tree. `run` is called with the exit code when a command finishes. */
export function createProgram(run: (code: number) => void): Command {
  const program = new Command('zenmesh')
    .description('Zen Mesh: a self-hosted, zero-trust webhook mesh')
    .option('--json', 'print JSON instead of text')
    .option('--home <dir>', 'state directory (default $ZENMESH_HOME or .zenmesh)')
    .option('--api-url <url>', 'admin API base URL (default: the running mesh from endpoints.json)')
    .option('--api-key <key>', 'admin API key (default $ZENMESH_API_KEY or <home>/admin-api-key)')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  const ctx = createContextFactory(program);
  const action: ActionWrapper =
    (fn) =>
    async (...args) => {
      run((await fn(...args)) ?? 0);
    };

  registerLocalCommands(program, ctx, action);
  registerResourceCommands(program, ctx, action);
  registerReplayCommands(program, ctx, action);
  registerAuditCommands(program, ctx, action);
  registerVerifyCommands(program, ctx, action);
  registerKeysCommands(program, ctx, action);
  registerCaCommands(program, ctx, action);
  registerConsoleCommands(program, ctx, action);
  registerTokenCommands(program, ctx, action);
  registerServiceCommands(program, ctx, action);
  registerInitCommands(program, ctx, action);
  return program;
}

/** Runs the CLI; errors become one line on stderr (or a JSON error with --json) and exit code 1. */
export async function main(argv: string[]): Promise<void> {
  const program = createProgram((code) => {
    process.exitCode = code;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CliError) {
      if (argv.includes('--json'))
        process.stderr.write(`${JSON.stringify({ error: err.code, message: err.message })}\n`);
      else process.stderr.write(`zenmesh: ${err.message}\n`);
      process.exitCode = err.code === 'ERR_USAGE' ? 2 : 1;
      return;
    }
    throw err;
  }
}
