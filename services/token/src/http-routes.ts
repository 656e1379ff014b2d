/** The token service's HTTP paths, for the route label of its HTTP metrics (anything else is `other`). */
export const TOKEN_HTTP_ROUTES: readonly string[] = [
  '/healthz',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/.well-known/jwks.json',
  '/oauth/token',
  '/oauth/introspect',
  '/oauth/revoke',
  '/oauth/authorize',
  '/oauth/userinfo',
  '/login',
  '/account/totp',
];
