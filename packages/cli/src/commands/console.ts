import { CliError } from '../errors.js';
import { readAdminKey, readEndpoints } from '../home.js';
import { ensureConsoleClient } from '../launcher/console-client.js';
import type { RegisterCommands } from './context.js';

/**
 * `zenmesh console register`: what `zenmesh up` does for itself, for a deployment (compose, Kubernetes): the
 * web console becomes a confidential OAuth client of the token service, and its registration is written to the
 * file the bff reads (ZENMESH_CONSOLE_CLIENT_FILE). Nothing is registered when the file already holds a
 * registration for the same public origin.
 */
export const registerConsoleCommands: RegisterCommands = (program, ctx, action) => {
  program
    .command('console')
    .description('the web console')
    .command('register')
    .description(
      'register the web console with the token service (admin key) and write its client file (mode 0600) for the bff',
    )
    .requiredOption('--file <path>', 'where the bff reads the registration (ZENMESH_CONSOLE_CLIENT_FILE)')
    .option(
      '--public-url <url>',
      'the console’s public origin, as browsers reach the bff (default: the API URL)',
    )
    .action(
      action(async (o: { file: string; publicUrl?: string }) => {
        const { home, out } = ctx();
        const g = program.opts<{ apiUrl?: string; apiKey?: string }>();
        const apiUrl = g.apiUrl ?? process.env.ZENMESH_API_URL ?? readEndpoints(home).bff;
        const key = g.apiKey ?? process.env.ZENMESH_API_KEY ?? readAdminKey(home);
        const publicUrl = o.publicUrl ?? apiUrl;
        let origin: URL;
        try {
          origin = new URL(publicUrl);
        } catch {
          throw new CliError('ERR_USAGE', `--public-url is not a URL: ${JSON.stringify(publicUrl)}`);
        }
        if (origin.protocol !== 'https:' && origin.protocol !== 'http:')
          throw new CliError('ERR_USAGE', '--public-url must be an http(s) URL');
        const registered = await ensureConsoleClient(o.file, apiUrl, key, origin.href);
        const redirectUri = `${origin.origin}/console/callback`;
        out.result({ registered, file: o.file, redirectUri }, () =>
          out.line(
            registered
              ? `Registered the console (${redirectUri}); wrote ${o.file}`
              : `${o.file} already registers ${redirectUri}; nothing changed`,
          ),
        );
        return 0;
      }),
    );
};
