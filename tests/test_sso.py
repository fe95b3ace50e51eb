"""Single sign-on end to end: a real Hallpass server (a child process) and a
real OpenID Connect provider (tests/oidc_provider.py), with a real HTTP client
walking the browser's redirects by hand: start -> the provider's authorization
endpoint -> the callback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest

from hallpass.backend import open_backend
from hallpass.sso.setup import set_sso
from tests.oidc_provider import Misbehave, OidcProvider, running_provider, s256
from tests.servers import SeededSchool, Server, running_server, seed_school

CALLBACK = "/api/sso/callback"
# Who has which address in each seeded school ("gone" is inactive).
EMAILS = {
    "student1": "student1@example.org",
    "teacher1": "teacher1@other.org",
    "gone": "gone@example.org",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with running_provider() as found:
        yield found


@pytest.fixture(autouse=True)
def well_behaved(provider: OidcProvider) -> None:
    provider.reset()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sso') / 'hallpass.db'}"


@pytest.fixture(scope="module")
async def server(sqlite_url: str, provider: OidcProvider) -> AsyncIterator[Server]:
    async with running_server(sqlite_url) as found:
        provider.redirect_uris.add(found.url + CALLBACK)
        yield found


async def sso_school(
    store_url: str,
    provider: OidcProvider,
    *,
    secret: str | None = None,
    domain: str | None = None,
    password_signin: bool = True,
) -> SeededSchool:
    """A seeded school whose people have EMAILS, signing in with `provider`."""
    seeded = await seed_school(store_url)
    backend = await open_backend(store_url)
    try:
        for username, email in EMAILS.items():
            user = await backend.directory.get_user(seeded.slug, seeded.users[username])
            assert user is not None
            await backend.directory.update_user(msgspec.structs.replace(user, email=email))
        await set_sso(
            backend.directory,
            seeded.slug,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=secret or provider.client_secret,
            domain=domain,
            password_signin=password_signin,
        )
    finally:
        await backend.close()
    return seeded


@pytest.fixture
async def school(sqlite_url: str, provider: OidcProvider) -> SeededSchool:
    return await sso_school(sqlite_url, provider)


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as found:
        yield found


async def to_callback(client: httpx.AsyncClient, slug: str, provider: OidcProvider) -> str:
    """Start signing in and pass the provider: the callback address it sends the browser to."""
    started = await client.get(f"/api/sso/{slug}/start")
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    assert location.startswith(provider.authorization_endpoint + "?")
    at_provider = await client.get(location)
    assert at_provider.status_code == 302, at_provider.text
    back: str = at_provider.headers["location"]
    return back


async def sign_in(client: httpx.AsyncClient, slug: str, provider: OidcProvider) -> httpx.Response:
    return await client.get(await to_callback(client, slug, provider))


def sets_session(response: httpx.Response) -> bool:
    return any(c.startswith("hallpass_session=") for c in response.headers.get_list("set-cookie"))


async def signed_in_as(client: httpx.AsyncClient) -> str | None:
    me = await client.get("/api/me")
    if me.status_code == 401:
        return None
    assert me.status_code == 200, me.text
    user_id: str = me.json()["id"]
    return user_id


async def assert_refused(
    client: httpx.AsyncClient, response: httpx.Response, code: str, slug: str | None
) -> None:
    """Sent back to the sign-in page with the code, and not signed in."""
    assert response.status_code == 302, response.text
    where = urlsplit(response.headers["location"])
    query = parse_qs(where.query)
    assert where.path == "/"
    assert query["sso_error"] == [code]
    assert query.get("school") == ([slug] if slug else None)
    assert not sets_session(response)
    assert await signed_in_as(client) is None


# --- signing in ---------------------------------------------------------------------


async def test_a_known_person_signs_in_with_pkce_state_and_nonce(
    client: httpx.AsyncClient, server: Server, school: SeededSchool, provider: OidcProvider
) -> None:
    provider.email = "Student1@EXAMPLE.org"  # the directory has it in lower case

    done = await sign_in(client, school.slug, provider)

    assert done.status_code == 302 and done.headers["location"] == "/"
    assert sets_session(done)
    assert await signed_in_as(client) == school.users["student1"]
    asked = provider.authorizations[-1]
    assert asked["redirect_uri"] == server.url + CALLBACK
    assert asked["scope"].split() == ["openid", "email", "profile"]
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
    assert asked["state"] != asked["nonce"]
    exchanged = provider.token_requests[-1]
    assert s256(exchanged["code_verifier"]) == asked["code_challenge"]
    assert exchanged["redirect_uri"] == asked["redirect_uri"]
    assert "client_secret" not in asked and provider.client_secret not in str(asked)


async def test_a_new_sign_in_ends_the_session_the_browser_had(
    client: httpx.AsyncClient, school: SeededSchool, provider: OidcProvider
) -> None:
    assert (await sign_in(client, school.slug, provider)).status_code == 302
    first = client.cookies.get("hallpass_session")
    provider.reset("teacher1@other.org")
    assert (await sign_in(client, school.slug, provider)).status_code == 302
    assert await signed_in_as(client) == school.users["teacher1"]
    async with httpx.AsyncClient(base_url=str(client.base_url)) as old:
        old.cookies.set("hallpass_session", first or "")
        assert await signed_in_as(old) is None


async def test_the_status_tells_the_page_what_to_offer(
    client: httpx.AsyncClient, sqlite_url: str, school: SeededSchool, provider: OidcProvider
) -> None:
    answer = await client.get(f"/api/sso/{school.slug}/status")
    assert answer.json() == {"enabled": True, "password_signin": True}
    assert provider.client_secret not in answer.text
    plain = await seed_school(sqlite_url)
    assert (await client.get(f"/api/sso/{plain.slug}/status")).json() == {
        "enabled": False,
        "password_signin": True,
    }
    # An unknown school looks like one without single sign-on.
    assert (await client.get("/api/sso/no-such-school/status")).json() == {
        "enabled": False,
        "password_signin": True,
    }


# --- ID tokens that must be refused ---------------------------------------------------


@pytest.mark.parametrize(
    "misbehave",
    [
        pytest.param(Misbehave(issuer="https://impostor.example"), id="wrong-issuer"),
        pytest.param(Misbehave(audience="another-client"), id="wrong-audience"),
        pytest.param(Misbehave(nonce="not-the-nonce-we-sent"), id="wrong-nonce"),
        pytest.param(Misbehave(expires_in=-300), id="expired"),
        pytest.param(Misbehave(other_key=True), id="bad-signature"),
    ],
)
async def test_a_bad_id_token_is_refused(
    client: httpx.AsyncClient, school: SeededSchool, provider: OidcProvider, misbehave: Misbehave
) -> None:
    provider.misbehave = misbehave
    done = await sign_in(client, school.slug, provider)
    await assert_refused(client, done, "sso_token_invalid", school.slug)
    assert provider.hits["token"] == 1  # it got as far as the token, and no further


# --- state ------------------------------------------------------------------------------


async def test_a_used_state_is_refused(
    client: httpx.AsyncClient, school: SeededSchool, provider: OidcProvider
) -> None:
    back = await to_callback(client, school.slug, provider)
    browser = client.cookies.get("hallpass_sso")
    assert browser
    assert (await client.get(back)).status_code == 302
    await client.delete("/api/session")
    # The same browser (its binding cookie sent again) and the same address.
    async with httpx.AsyncClient(base_url=str(client.base_url)) as again:
        replay = await again.get(back, headers={"Cookie": f"hallpass_sso={browser}"})
        await assert_refused(again, replay, "sso_state_invalid", None)


async def test_an_unknown_state_is_refused(client: httpx.AsyncClient) -> None:
    client.cookies.set("hallpass_sso", "whatever")
    done = await client.get(CALLBACK, params={"state": "made-up", "code": "made-up"})
    await assert_refused(client, done, "sso_state_invalid", None)
    await assert_refused(client, await client.get(CALLBACK), "sso_state_invalid", None)


async def test_another_browser_cannot_finish_someone_elses_sign_in(
    client: httpx.AsyncClient, school: SeededSchool, provider: OidcProvider
) -> None:
    # The attacker's own sign-in, finished in a victim's browser, would sign
    # the victim in as the attacker: the binding cookie prevents it.
    back = await to_callback(client, school.slug, provider)
    async with httpx.AsyncClient(base_url=str(client.base_url)) as victim:
        await assert_refused(victim, await victim.get(back), "sso_state_invalid", None)
    # ... without using the state up for the browser that began it.
    assert (await client.get(back)).status_code == 302
    assert await signed_in_as(client) == school.users["student1"]


# --- who may sign in ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "misbehave", "code"),
    [
        ("nobody@example.org", Misbehave(), "sso_unknown_user"),
        ("gone@example.org", Misbehave(), "sso_unknown_user"),  # inactive
        ("student1@example.org", Misbehave(email_verified=False), "sso_no_email"),
        ("student1@example.org", Misbehave(no_email=True), "sso_no_email"),
        ("student1@example.org", Misbehave(deny="access_denied"), "sso_denied"),
    ],
)
async def test_people_the_school_does_not_know_are_refused(
    client: httpx.AsyncClient,
    school: SeededSchool,
    provider: OidcProvider,
    email: str,
    misbehave: Misbehave,
    code: str,
) -> None:
    provider.reset(email)
    provider.misbehave = misbehave
    await assert_refused(client, await sign_in(client, school.slug, provider), code, school.slug)


async def test_the_email_domain_is_enforced(
    client: httpx.AsyncClient, sqlite_url: str, provider: OidcProvider
) -> None:
    school = await sso_school(sqlite_url, provider, domain="example.org")
    provider.reset("teacher1@other.org")  # in the directory, but outside the domain
    done = await sign_in(client, school.slug, provider)
    await assert_refused(client, done, "sso_wrong_domain", school.slug)
    provider.reset("student1@example.org")
    assert (await sign_in(client, school.slug, provider)).status_code == 302
    assert await signed_in_as(client) == school.users["student1"]


# --- the provider's side ------------------------------------------------------------------


async def test_a_wrong_client_secret_is_a_provider_error(
    client: httpx.AsyncClient, sqlite_url: str, provider: OidcProvider
) -> None:
    school = await sso_school(sqlite_url, provider, secret="not-the-secret")
    done = await sign_in(client, school.slug, provider)
    await assert_refused(client, done, "sso_provider_error", school.slug)


async def test_start_without_single_sign_on_goes_back_to_the_sign_in_page(
    client: httpx.AsyncClient, sqlite_url: str
) -> None:
    plain = await seed_school(sqlite_url)
    await assert_refused(
        client, await client.get(f"/api/sso/{plain.slug}/start"), "sso_not_configured", None
    )


async def test_discovery_and_keys_are_cached_and_a_new_key_is_fetched(
    client: httpx.AsyncClient, school: SeededSchool, provider: OidcProvider
) -> None:
    assert (await sign_in(client, school.slug, provider)).status_code == 302  # warms the cache
    provider.reset()
    assert (await sign_in(client, school.slug, provider)).status_code == 302
    assert (provider.hits["discovery"], provider.hits["jwks"]) == (0, 0)

    provider.rotate_key()  # tokens now carry a kid the server has not seen
    assert (await sign_in(client, school.slug, provider)).status_code == 302
    assert await signed_in_as(client) == school.users["student1"]
    assert (provider.hits["discovery"], provider.hits["jwks"]) == (0, 1)


# --- password sign-in turned off ---------------------------------------------------------


async def test_password_sign_in_can_be_turned_off(
    client: httpx.AsyncClient, sqlite_url: str, provider: OidcProvider
) -> None:
    school = await sso_school(sqlite_url, provider, password_signin=False)
    status = await client.get(f"/api/sso/{school.slug}/status")
    assert status.json() == {"enabled": True, "password_signin": False}

    for username, password in (("student1", school.password), ("nobody", "x")):
        refused = await client.post(
            "/api/session",
            json={"school": school.slug, "username": username, "password": password},
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "password_signin_disabled"
        assert "school account" in refused.json()["error"]["message"]
        assert not sets_session(refused)

    # A kiosk is a device with no school account: it keeps its password.
    kiosk = await client.post(
        "/api/session",
        json={"school": school.slug, "username": "kiosk1", "password": school.password},
    )
    assert kiosk.status_code == 200, kiosk.text
    await client.delete("/api/session")

    assert (await sign_in(client, school.slug, provider)).status_code == 302
    assert await signed_in_as(client) == school.users["student1"]


# --- on Redis -------------------------------------------------------------------------------


async def test_single_sign_on_works_on_redis(redis_url: str, provider: OidcProvider) -> None:
    school = await sso_school(redis_url, provider)
    async with running_server(redis_url) as server:
        provider.redirect_uris.add(server.url + CALLBACK)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await sign_in(client, school.slug, provider)).status_code == 302
            assert await signed_in_as(client) == school.users["student1"]
            back = await to_callback(client, school.slug, provider)
            async with httpx.AsyncClient(base_url=server.url) as stranger:
                await assert_refused(stranger, await stranger.get(back), "sso_state_invalid", None)
