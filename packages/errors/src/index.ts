export { type ErrorCode, isZenMeshError, ZenMeshError } from './zenmesh-error.js';
