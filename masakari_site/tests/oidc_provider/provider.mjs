// A real OpenID Connect provider for the tests, configured by environment:
//   OP_PORT       port on 127.0.0.1 (the issuer is http://127.0.0.1:OP_PORT)
//   RP_URL        the service under test (redirect and post-logout URIs)
//   API_AUDIENCE  the resource whose access tokens are JWTs for the API
//   OP_JWK        optional: the RS256 private key (JWK JSON) to sign with;
//                 by default a new one per start
//   OP_GROUPS_IN_TOKENS_ONLY  optional, 1: groups go in the ID and access
//                 tokens, not in the userinfo answer (as Entra ID does)
// Any login name is accepted (devInteractions); names starting with "admin"
// are in group ha-admins, others in ha-users. Clients:
//   masakari-ui        the service's login (code flow, PKCE; opaque tokens for userinfo)
//   masakari-cli       a command-line client: JWT access tokens for API_AUDIENCE
//                      (or for another resource it asks for), one hour
//   masakari-cli-short the same, but its access tokens live 2 seconds
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const rp = process.env.RP_URL || 'http://127.0.0.1:9';
const audience = process.env.API_AUDIENCE || 'urn:masakari:api';
const CLI_REDIRECT = 'http://127.0.0.1:9/cli-callback';

const jwk = process.env.OP_JWK ? JSON.parse(process.env.OP_JWK)
  : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
Object.assign(jwk, { kid: jwk.kid || `test-${port}`, use: 'sig', alg: 'RS256' });

const groupsOf = (id) => (id.startsWith('admin') ? ['ha-admins'] : ['ha-users']);
const tokensOnly = process.env.OP_GROUPS_IN_TOKENS_ONLY === '1';
const cliClient = (clientId) => ({
  client_id: clientId, client_secret: `${clientId}-secret`, redirect_uris: [CLI_REDIRECT],
  grant_types: ['authorization_code'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
});

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'masakari-ui', client_secret: 'masakari-ui-secret',
      redirect_uris: [`${rp}/oidc/callback/`],
      post_logout_redirect_uris: [`${rp}/login/?logged_out=1`],
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    cliClient('masakari-cli'),
    cliClient('masakari-cli-short'),
  ],
  jwks: { keys: [jwk] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims(use) {
        const claims = { sub: id, email: `${id}@example.test`, email_verified: true, name: id,
                         given_name: id, family_name: 'Tester', preferred_username: id };
        if (!(tokensOnly && use === 'userinfo')) claims.groups = groupsOf(id);
        return claims;
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'],
            profile: ['name', 'given_name', 'family_name', 'preferred_username'],
            groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Scope claims in the ID token too, so that a groups-in-tokens-only provider has them there.
  conformIdTokenClaims: !tokensOnly,
  pkce: { required: (ctx, client) => client.clientId === 'masakari-ui' },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The CLI clients get API tokens without asking; the login's tokens stay for userinfo.
      defaultResource: (ctx, client) => (client.clientId.startsWith('masakari-cli') ? audience : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'api',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: client.clientId === 'masakari-cli-short' ? 2 : 3600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // What the API reads from a JWT access token besides sub: name and groups.
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
    return { preferred_username: token.accountId, groups: groupsOf(token.accountId) };
  },
  cookies: { keys: ['masakari-test-cookie-key'] },
  ttl: { Session: 3600, Grant: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 3600 },
});
provider.listen(port, '127.0.0.1', () => console.log(`OP ready ${issuer}`));
