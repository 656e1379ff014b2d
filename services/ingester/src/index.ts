// The ingester's door: what its main.ts, whole-mesh tests and benchmarks need.
export type { CloudEventJson, StoredEvent } from './cloud-event.js';
export { toCloudEvent } from './cloud-event.js';
export { type IngesterEnv, ingesterEnv } from './config.js';
export { createIngester } from './ingester-app.js';
export type { EgressClient, EventsClient, Ingester, IngesterOptions } from './ingester-options.js';
