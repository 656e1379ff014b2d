/** A stored event as the backend returns it (proto `Event`, with the time as a Date). */
export interface StoredEvent {
  id: string;
  source: string;
  type: string;
  time: Date;
  datacontenttype: string;
  data: Uint8Array;
  providerDeliveryId?: string | null | undefined;
}

/** The CloudEvents 1.0 JSON format of one event (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md). */
export interface CloudEventJson {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: string;
  data?: unknown;
  data_base64?: string;
  /** Extension attribute: the provider's own delivery id, when it sent one. */
  providerdeliveryid?: string;
}

// JSON media types (RFC 6838 §4.2.8 `+json` suffix): their data is carried as JSON, anything else as base64.
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/**
 * Renders a stored event as a structured-mode CloudEvent: `data` when the content type is JSON and the
 * bytes parse as JSON, `data_base64` otherwise (json-format §3.1), so the exact bytes always survive.
 */
export function toCloudEvent(event: StoredEvent): CloudEventJson {
  const json: CloudEventJson = {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.time.toISOString(),
    datacontenttype: event.datacontenttype,
  };
  let parsed: { value: unknown } | undefined;
  if (JSON_TYPE.test(event.datacontenttype)) {
    const text = Buffer.from(event.data).toString('utf8');
    try {
      // Bytes that are not valid UTF-8 would be altered by decoding: those stay base64.
      if (Buffer.from(text, 'utf8').equals(event.data)) parsed = { value: JSON.parse(text) };
    } catch {
      parsed = undefined;
    }
  }
  if (parsed === undefined) json.data_base64 = Buffer.from(event.data).toString('base64');
  else json.data = parsed.value;
  if (event.providerDeliveryId) json.providerdeliveryid = event.providerDeliveryId;
  return json;
}
