import { readFileSync } from 'node:fs';
import { CliError } from '../errors.js';
import { enc, type RegisterCommands } from './context.js';

interface Connection {
  id: string;
  sourceId: string;
  endpointId: string;
  filter: string;
  transform: string;
  enabled: boolean;
}

/** `--filter EXPR` or `--filter-file FILE` (CEL is easier to keep in a file once it grows). */
function expression(inline: string | undefined, file: string | undefined, what: string): string | undefined {
  if (inline !== undefined && file !== undefined) {
    throw new CliError('ERR_USAGE', `--${what} and --${what}-file exclude each other`);
  }
  if (file === undefined) return inline;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('ERR_USAGE', `cannot read ${file}: ${(err as Error).message}`);
  }
}

interface ExpressionOptions {
  filter?: string;
  filterFile?: string;
  transform?: string;
  transformFile?: string;
}

const expressions = (o: ExpressionOptions): Record<string, string> => {
  const filter = expression(o.filter, o.filterFile, 'filter');
  const transform = expression(o.transform, o.transformFile, 'transform');
  return {
    ...(filter === undefined ? {} : { filter }),
    ...(transform === undefined ? {} : { transform }),
  };
};

const describe = (c: Connection): string =>
  `${c.id}: ${c.sourceId} -> ${c.endpointId}${c.enabled ? '' : ' (disabled)'}${c.filter ? ' filtered' : ''}${c.transform ? ' transformed' : ''}`;

/** `zenmesh connection …`: which endpoints a source routes to (docs/routing.md), over the bff's /api/v1. */
export const registerConnectionCommands: RegisterCommands = (program, ctx, action) => {
  const connection = program
    .command('connection')
    .description('route a source to chosen endpoints, with CEL filters and transformations');
  const withExpressions = <T extends ReturnType<typeof connection.command>>(cmd: T): T =>
    cmd
      .option(
        '--filter <cel>',
        'deliver only when true, e.g. \'body.amount > 100 && headers["x-env"] == "prod"\'',
      )
      .option('--filter-file <file>', 'the filter, read from a file')
      .option(
        '--transform <cel>',
        'the delivered request, e.g. \'{"body": {"id": body.id}, "headers": {"x-kind": type}}\'',
      )
      .option('--transform-file <file>', 'the transformation, read from a file') as T;

  withExpressions(
    connection
      .command('create')
      .description(
        'connect a source to an endpoint; its first connection makes the source route to connections only',
      )
      .requiredOption('--tenant <tenant>', 'tenant id or name')
      .requiredOption('--source <id>', 'the source')
      .requiredOption('--endpoint <id>', 'the endpoint'),
  ).action(
    action(async (o: ExpressionOptions & { tenant: string; source: string; endpoint: string }) => {
      const { out, api } = ctx();
      const res = await api().post<{ connection: Connection }>(
        `/api/v1/tenants/${enc(o.tenant)}/connections`,
        {
          sourceId: o.source,
          endpointId: o.endpoint,
          ...expressions(o),
        },
      );
      out.result(res, () => out.line(`Created connection ${describe(res.connection)}`));
      return 0;
    }),
  );

  connection
    .command('list')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .option('--source <id>', 'only this source')
    .option('--endpoint <id>', 'only this endpoint')
    .action(
      action(async (o: { tenant: string; source?: string; endpoint?: string }) => {
        const { out, api } = ctx();
        const q = new URLSearchParams({
          ...(o.source ? { sourceId: o.source } : {}),
          ...(o.endpoint ? { endpointId: o.endpoint } : {}),
        });
        const res = await api().get<{ connections: Connection[] }>(
          `/api/v1/tenants/${enc(o.tenant)}/connections${q.size > 0 ? `?${q}` : ''}`,
        );
        out.result(res, () =>
          out.table(res.connections as unknown as Record<string, unknown>[], [
            'id',
            'sourceId',
            'endpointId',
            'enabled',
            'filter',
            'transform',
          ]),
        );
        return 0;
      }),
    );

  withExpressions(
    connection
      .command('update <connectionId>')
      .description('change a connection\'s filter or transformation ("" removes it), or enable/disable it')
      .requiredOption('--tenant <tenant>', 'tenant id or name')
      .option('--enable', 'route events through it again')
      .option('--disable', 'stop routing events through it'),
  ).action(
    action(
      async (
        connectionId: string,
        o: ExpressionOptions & { tenant: string; enable?: boolean; disable?: boolean },
      ) => {
        if (o.enable && o.disable)
          throw new CliError('ERR_USAGE', '--enable and --disable exclude each other');
        const body = {
          ...expressions(o),
          ...(o.enable ? { enabled: true } : o.disable ? { enabled: false } : {}),
        };
        if (Object.keys(body).length === 0) throw new CliError('ERR_USAGE', 'nothing to change');
        const { out, api } = ctx();
        const res = await api().post<{ connection: Connection }>(
          `/api/v1/tenants/${enc(o.tenant)}/connections/${enc(connectionId)}`,
          body,
        );
        out.result(res, () => out.line(`Updated connection ${describe(res.connection)}`));
        return 0;
      },
    ),
  );

  connection
    .command('delete <connectionId>')
    .description('remove a connection; the source keeps routing to its other connections only')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (connectionId: string, o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().delete<{ connection: Connection }>(
          `/api/v1/tenants/${enc(o.tenant)}/connections/${enc(connectionId)}`,
        );
        out.result(res, () => out.line(`Deleted connection ${res.connection.id}`));
        return 0;
      }),
    );
};
