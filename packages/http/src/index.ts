export { type ClientIpResolver, createClientIpResolver } from './client-ip.js';
export { sendJson } from './json-response.js';
