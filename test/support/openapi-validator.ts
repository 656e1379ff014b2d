import { Ajv2020 } from 'ajv/dist/2020.js';

export interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>
  >;
  components: { schemas: Record<string, object> };
}

/** Validates `body` against the schema the document gives for (path, method, status). */
export function validator(doc: OpenApiDoc) {
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
  return (path: string, method: string, status: string, body: unknown) => {
    const op = doc.paths[path]?.[method];
    const schema = op?.responses[status]?.content['application/json']?.schema;
    if (schema === undefined) throw new Error(`no ${status} answer described for ${method} ${path}`);
    const refd = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'));
    const validate = ajv.compile(refd);
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
}

/** The document's path template a concrete path falls under (`/api/v1/users/usr_…/totp` → `/api/v1/users/{userId}/totp`). */
export function templateOf(doc: OpenApiDoc, method: string, path: string): string | undefined {
  const bare = path.split('?')[0] ?? path;
  return Object.keys(doc.paths).find(
    (t) =>
      doc.paths[t]?.[method] !== undefined && new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
}

/**
 * Wraps a bff API caller (mesh-fixture's bffApi) so that EVERY answer it gets is checked against the OpenAPI
 * document that same bff serves: the operation must be described, with this status, and the body must
 * validate. `answered` collects "METHOD template status" of what was checked, for coverage assertions.
 */
export function describedApi(
  base: () => string,
  call: (
    method: string,
    path: string,
    credential: string,
    body?: unknown,
  ) => Promise<{ status: number; body: Record<string, unknown> }>,
) {
  let check: ReturnType<typeof validator> | undefined;
  let doc: OpenApiDoc | undefined;
  const answered = new Set<string>();
  const api = async (method: string, path: string, credential: string, body?: unknown) => {
    if (doc === undefined) {
      doc = (await (await fetch(`${base()}/api/v1/openapi.json`)).json()) as OpenApiDoc;
      check = validator(doc);
    }
    const res = await call(method, path, credential, body);
    const m = method.toLowerCase();
    const template = templateOf(doc, m, path);
    if (template === undefined) throw new Error(`${method} ${path} is not in the OpenAPI document`);
    const errors = check?.(template, m, String(res.status), res.body) ?? [];
    if (errors.length > 0)
      throw new Error(
        `${method} ${template} ${res.status} does not match the document: ${errors.join('; ')}`,
      );
    answered.add(`${method} ${template} ${res.status}`);
    return res;
  };
  return Object.assign(api, { answered, doc: () => doc });
}
