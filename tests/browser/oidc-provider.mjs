// A real OpenID Connect provider for the browser tests (node-oidc-provider, a certified
// implementation) with its development login pages: any login name is accepted and becomes the
// e-mail address in the ID token. Started by run.sh; never used outside tests.
//
//   OIDC_PORT=… KEEL_CALLBACK=http://127.0.0.1:…/auth/oidc/callback node oidc-provider.mjs
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'keel',
      client_secret: 'keel-test-secret',
      redirect_uris: [process.env.KEEL_CALLBACK],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['keel-browser-tests-only'] },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: id };
      },
    };
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc provider on ${port}`));
