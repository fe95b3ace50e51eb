"""Single sign-on with OpenID Connect (docs/sso.md).

    provider.py  a provider's discovery document and keys, fetched and cached
    flow.py      the authorization-code flow: the request (state, nonce, PKCE),
                 the code exchange, the ID token's checks, who it names
    setup.py     a school's settings, as the command line changes and shows them
    commands.py  `hallpass sso set | show | check | clear`

The web side is `hallpass.web.routes.sso`.
"""
