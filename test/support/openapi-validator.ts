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
