export {
  DEFAULT_TOLERANCE_S,
  GENERIC_DEFAULTS,
  type GenericHmacConfig,
  isProviderName,
  MAX_TOLERANCE_S,
  PROVIDERS,
  type ProviderName,
  WHSEC_PROVIDERS,
} from './provider-registry.js';
