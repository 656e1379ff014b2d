import { PROVIDERS as BACKEND_PROVIDERS } from '@zenmesh/backend';
import { describe, expect, it } from 'vitest';
import { PROVIDERS } from './providers.js';

// The backend accepts a source's provider name and the ingester picks its verifier by that name; the services
// must not depend on each other, so each keeps the list and this test keeps them from drifting apart.
describe('PROVIDERS', () => {
  it('is the same list as the backend accepts for Source.provider', () => {
    expect(PROVIDERS).toEqual(BACKEND_PROVIDERS);
  });
});
