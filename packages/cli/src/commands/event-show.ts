import { CliError } from '../errors.js';
import type { Output } from '../output.js';

/** What `zenmesh events show` receives from `GET /api/v1/tenants/{t}/events/{id}`. */
export interface ShownEvent {
  id: string;
  type: string;
  sourceId: string;
  receivedAt: string | null;
  datacontenttype: string;
  providerDeliveryId: string;
  traceId: string;
  [key: string]: unknown;
}

/**
 * The Jaeger UI link of a trace: `${JAEGER_UI_URL}/trace/<id>` (Jaeger's own trace page), or undefined
 * without JAEGER_UI_URL or a trace id. A JAEGER_UI_URL that is not an http(s) URL is a usage error.
 */
export function traceLink(traceId: string, jaegerUiUrl: string | undefined): string | undefined {
  if (jaegerUiUrl === undefined || jaegerUiUrl === '' || traceId === '') return undefined;
  let url: URL;
  try {
    url = new URL(jaegerUiUrl);
  } catch {
    throw new CliError('ERR_USAGE', `JAEGER_UI_URL is not a URL: ${JSON.stringify(jaegerUiUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('ERR_USAGE', 'JAEGER_UI_URL must be an http(s) URL');
  }
  return `${url.href.replace(/\/+$/, '')}/trace/${traceId}`;
}

/** Prints one event: as text without its payload; with --json the API's event object (payload included, base64) and `traceUrl`. */
export function printEvent(out: Output, event: ShownEvent, jaegerUiUrl: string | undefined): void {
  const link = traceLink(event.traceId, jaegerUiUrl);
  out.result({ event, ...(link === undefined ? {} : { traceUrl: link }) }, () => {
    out.line(`event     ${event.id}`);
    out.line(`type      ${event.type}`);
    out.line(`source    ${event.sourceId}`);
    out.line(`received  ${event.receivedAt ?? ''}`);
    out.line(`content   ${event.datacontenttype}`);
    if (event.providerDeliveryId) out.line(`provider delivery id  ${event.providerDeliveryId}`);
    out.line(`trace     ${event.traceId || '(none: tracing was off when it was recorded)'}`);
    if (link !== undefined) out.line(`          ${link}`);
    else if (event.traceId)
      out.line('          (set JAEGER_UI_URL, e.g. http://127.0.0.1:16686, for a link)');
  });
}
