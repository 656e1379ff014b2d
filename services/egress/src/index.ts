// Egress's door: its variables. It is reached over gRPC only (EgressService), and its main.ts wires the rest.
export { type EgressEnv, egressEnv } from './config.js';
