"""Single sign-on's parts on their own: finding people by email in both
directories, the provider cache, the flow's steps against the test provider
in this process, and the `hallpass sso` commands."""

from __future__ import annotations

import base64
import io
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from hallpass.backend import Backend, open_backend
from hallpass.cli import main
from hallpass.directory.model import (
    DuplicateUser,
    School,
    SsoConfig,
    UnknownSchool,
    User,
    email_key,
)
from hallpass.directory.sqlite import SqliteDirectory
from hallpass.service.ephemeral_sqlite import SqliteEphemeral
from hallpass.sso.flow import (
    Begun,
    SsoError,
    TokenAnswer,
    begin,
    email_of,
    exchange_code,
    save_pending,
    signing_algorithms,
    take_pending,
    verified_claims,
)
from hallpass.sso.provider import ProviderError, ProviderMetadata, Providers, check_provider_url
from tests.oidc_provider import OidcProvider, running_provider

REDIRECT = "http://127.0.0.1:9/api/sso/callback"  # never called: the test reads the Location


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with running_provider() as found:
        found.redirect_uris.add(REDIRECT)
        yield found


@pytest.fixture(autouse=True)
def well_behaved(provider: OidcProvider) -> None:
    provider.reset()
    provider.auth_methods = ["client_secret_basic", "client_secret_post"]


def config_for(provider: OidcProvider, **changes: str) -> SsoConfig:
    config = SsoConfig(
        issuer=provider.issuer, client_id=provider.client_id, client_secret=provider.client_secret
    )
    return msgspec.structs.replace(config, **changes)


# --- emails in the directory ---------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("Ana.Lopez@Example.ORG", "ana.lopez@example.org"),
        ("  ana@example.org\t", "ana@example.org"),
        ("ÉLÈVE@example.org", "ÉlÈve@example.org"),  # only ASCII letters fold, as in Redis's Lua
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_email_keys(email: str | None, key: str | None) -> None:
    assert email_key(email) == key


@pytest.fixture
async def backend(store_url: str) -> AsyncIterator[Backend]:
    found = await open_backend(store_url)
    yield found
    await found.close()


def person(school: str, username: str, email: str | None) -> User:
    return User(
        id=f"user_{uuid.uuid4().hex}",
        school=school,
        username=username,
        name=username.title(),
        role="student",
        email=email,
    )


async def test_people_are_found_by_email_whatever_its_case(backend: Backend, school: str) -> None:
    directory = backend.directory
    await directory.add_school(School(slug=school, name="Emails"))
    ana = person(school, "ana", "Ana@Example.org")
    await directory.add_user(ana)
    await directory.add_user(person(school, "ben", None))
    eleve = person(school, "eleve", "ÉLÈVE@Example.org")
    await directory.add_user(eleve)

    assert await directory.user_by_email(school, "ana@example.org") == ana
    assert await directory.user_by_email(school, " ANA@EXAMPLE.ORG ") == ana
    assert await directory.user_by_email(school, "ben@example.org") is None
    # Both backends fold ASCII letters only (Redis's Lua knows no more).
    assert await directory.user_by_email(school, "Élève@EXAMPLE.org") is None
    assert await directory.user_by_email(school, "ÉlÈve@EXAMPLE.org") == eleve
    assert await directory.user_by_email(school, "") is None
    assert await directory.user_by_email("another-school", "ana@example.org") is None


async def test_an_email_is_unique_within_a_school(backend: Backend, school: str) -> None:
    directory = backend.directory
    await directory.add_school(School(slug=school, name="Unique"))
    other = f"{school}-b"
    await directory.add_school(School(slug=other, name="Other"))
    ana = person(school, "ana", "ana@example.org")
    await directory.add_user(ana)

    with pytest.raises(DuplicateUser, match="email"):
        await directory.add_user(person(school, "ana2", "ANA@example.org"))
    ben = person(school, "ben", None)
    await directory.add_user(ben)
    with pytest.raises(DuplicateUser):
        await directory.update_user(msgspec.structs.replace(ben, email="Ana@Example.org"))
    await directory.add_user(person(other, "ana", "ana@example.org"))  # another school: fine


async def test_changing_or_clearing_an_email_moves_the_index(backend: Backend, school: str) -> None:
    directory = backend.directory
    await directory.add_school(School(slug=school, name="Moves"))
    ana = person(school, "ana", "ana@example.org")
    ben = person(school, "ben", "ben@example.org")
    await directory.save_users(school, [ana, ben], [])

    moved = msgspec.structs.replace(ana, email="ana.l@example.org")
    await directory.update_user(moved)
    assert await directory.user_by_email(school, "ana@example.org") is None
    assert await directory.user_by_email(school, "ana.l@example.org") == moved

    # Two people trade addresses in one step.
    traded = [
        msgspec.structs.replace(moved, email="ben@example.org"),
        msgspec.structs.replace(ben, email="ana.l@example.org"),
    ]
    await directory.save_users(school, [], traded)
    found = await directory.user_by_email(school, "BEN@example.org")
    assert found is not None and found.id == ana.id

    await directory.update_user(msgspec.structs.replace(traded[0], email=None))
    assert await directory.user_by_email(school, "ben@example.org") is None


async def test_a_school_record_is_replaced(backend: Backend, school: str) -> None:
    directory = backend.directory
    await directory.add_school(School(slug=school, name="Replace", secret="s"))
    config = SsoConfig(issuer="https://accounts.google.com", client_id="c", client_secret="x")
    changed = School(slug=school, name="Replace", secret="s", sso=config, password_signin=False)
    await directory.update_school(changed)
    assert await directory.get_school(school) == changed
    with pytest.raises(UnknownSchool):
        await directory.update_school(School(slug=f"{school}-missing", name="No"))


OLD_SCHEMA = """
CREATE TABLE schools (slug TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY, school TEXT NOT NULL REFERENCES schools (slug),
    username TEXT NOT NULL, number TEXT, pin_key TEXT, data BLOB NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (school, username);
"""


async def test_an_older_file_gets_the_email_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = person("old", "ana", "Ana@Example.org")
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO schools VALUES (?, ?)",
            ("old", msgspec.json.encode(School(slug="old", name="O"))),
        )
        conn.execute(
            "INSERT INTO users (id, school, username, data) VALUES (?, ?, ?, ?)",
            (old.id, "old", "ana", msgspec.json.encode(old)),
        )
    conn.close()
    for _ in range(2):  # and opening it again changes nothing
        directory = await SqliteDirectory.open(path)
        try:
            assert await directory.user_by_email("old", "ana@example.org") == old
            with pytest.raises(DuplicateUser):
                await directory.add_user(person("old", "ana2", "ana@EXAMPLE.org"))
        finally:
            await directory.close()


# --- the provider cache --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_discovery_and_keys_are_kept_for_the_ttl(provider: OidcProvider) -> None:
    clock = Clock()
    providers = Providers(ttl=60, clock=clock)
    metadata = await providers.metadata(provider.issuer)
    await providers.keys(metadata)
    await providers.metadata(provider.issuer)
    await providers.keys(metadata)
    assert (provider.hits["discovery"], provider.hits["jwks"]) == (1, 1)

    await providers.keys(metadata, refresh=True)
    assert provider.hits["jwks"] == 2
    clock.now += 60
    await providers.metadata(provider.issuer)
    await providers.keys(metadata)
    assert (provider.hits["discovery"], provider.hits["jwks"]) == (2, 3)
    assert metadata.token_endpoint == f"{provider.issuer}/token"


async def test_a_discovery_document_naming_another_issuer_is_refused(
    provider: OidcProvider,
) -> None:
    # The same server under another name: its document names the real one.
    alias = provider.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(ProviderError, match="names the issuer"):
        await Providers().metadata(alias)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


async def test_an_unreachable_provider_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="cannot be reached"):
        await Providers(timeout=2).metadata(f"http://127.0.0.1:{closed_port()}")


@pytest.mark.parametrize(
    ("url", "fine"),
    [
        ("https://accounts.google.com", True),
        ("https://login.microsoftonline.com/0000/v2.0", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:5556/dex", True),
        ("http://accounts.google.com", False),
        ("ftp://example.org", False),
        ("https://", False),
        ("accounts.google.com", False),
        ("https://example.org/#x", False),
    ],
)
def test_providers_are_reached_over_https_only(url: str, fine: bool) -> None:
    if fine:
        assert check_provider_url(url, "issuer") == url
    else:
        with pytest.raises(ValueError, match="https"):
            check_provider_url(url, "issuer")


# --- the flow's steps ----------------------------------------------------------------


async def authorize(begun: Begun) -> str:
    """What the browser does at the provider: the code it comes back with."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(begun.url)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [begun.state]
    return query["code"][0]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_the_code_is_exchanged_and_the_token_verified(
    provider: OidcProvider, method: str
) -> None:
    provider.auth_methods = [method]
    providers = Providers()
    metadata = await providers.metadata(provider.issuer)
    config = config_for(provider)
    begun = begin("s", config, metadata, REDIRECT)

    async with providers.client() as client:
        answer = await exchange_code(
            client, metadata, config, await authorize(begun), begun.pending
        )
    claims = await verified_claims(
        providers,
        metadata,
        answer,
        client_id=config.client_id,
        nonce=begun.pending.nonce,
        now=int(time.time()),
    )
    assert claims["email"] == provider.email and claims["nonce"] == begun.pending.nonce
    sent = provider.token_requests[-1]
    assert ("client_secret" in sent) == (method == "client_secret_post")


async def test_the_provider_refuses_a_wrong_verifier_or_a_used_code(
    provider: OidcProvider,
) -> None:
    # What makes the end-to-end test's success mean the right verifier was sent.
    providers = Providers()
    metadata = await providers.metadata(provider.issuer)
    config = config_for(provider)
    begun = begin("s", config, metadata, REDIRECT)
    code = await authorize(begun)
    wrong = msgspec.structs.replace(begun.pending, verifier=begun.pending.verifier[::-1])
    async with providers.client() as client:
        with pytest.raises(SsoError, match="400: invalid_grant") as refused:
            await exchange_code(client, metadata, config, code, wrong)
        assert refused.value.code == "sso_provider_error"
        with pytest.raises(SsoError, match="invalid_grant"):  # that code is spent now
            await exchange_code(client, metadata, config, code, begun.pending)


@pytest.mark.parametrize("alg", ["HS256", "none"])
async def test_tokens_not_signed_with_the_providers_keys_are_refused(
    provider: OidcProvider, alg: str
) -> None:
    providers = Providers()
    metadata = await providers.metadata(provider.issuer)
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "sub": "x",
        "nonce": "n",
        "iat": now,
        "exp": now + 300,
        "email": provider.email,
    }
    if alg == "HS256":  # "signed" with the client secret, which the school also holds
        token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(provider.client_secret))
    else:
        token = f"{_b64json({'alg': 'none'})}.{_b64json(claims)}."
    with pytest.raises(SsoError) as refused:
        await verified_claims(
            providers,
            metadata,
            TokenAnswer(id_token=token),
            client_id=provider.client_id,
            nonce="n",
            now=now,
        )
    assert refused.value.code == "sso_token_invalid"


def _b64json(value: object) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).rstrip(b"=").decode()


def test_only_public_key_algorithms_are_taken() -> None:
    metadata = ProviderMetadata(
        issuer="https://i",
        authorization_endpoint="https://i/a",
        token_endpoint="https://i/t",
        jwks_uri="https://i/k",
        id_token_signing_alg_values_supported=["HS256", "RS256", "none", "ES256"],
    )
    assert signing_algorithms(metadata) == ["RS256", "ES256"]


async def test_a_pending_sign_in_is_taken_once_and_by_its_browser(tmp_path: Path) -> None:
    ephemeral = await SqliteEphemeral.open(tmp_path / "e.db")
    try:
        metadata = ProviderMetadata(
            issuer="https://i",
            authorization_endpoint="https://i/a?tenant=x",
            token_endpoint="https://i/t",
            jwks_uri="https://i/k",
        )
        begun = begin(
            "s", SsoConfig(issuer="https://i", client_id="c", client_secret="x"), metadata, REDIRECT
        )
        query = parse_qs(urlsplit(begun.url).query)
        assert query["tenant"] == ["x"] and query["state"] == [begun.state]
        await save_pending(ephemeral, begun)

        for state, browser in (
            (begun.state, None),
            (begun.state, "other"),
            ("unknown", begun.browser),
        ):
            with pytest.raises(SsoError) as refused:
                await take_pending(ephemeral, state, browser)
            assert refused.value.code == "sso_state_invalid"
        assert await take_pending(ephemeral, begun.state, begun.browser) == begun.pending
        with pytest.raises(SsoError):
            await take_pending(ephemeral, begun.state, begun.browser)
    finally:
        await ephemeral.close()


@pytest.mark.parametrize(
    ("claims", "domain", "outcome"),
    [
        ({"email": "Ana@Example.org", "email_verified": True}, None, "ana@example.org"),
        ({"email": "ana@example.org"}, "example.org", "ana@example.org"),
        ({"email": "ana@example.org", "email_verified": "false"}, None, "sso_no_email"),
        ({"email": "ana@example.org", "email_verified": False}, None, "sso_no_email"),
        ({"email": ""}, None, "sso_no_email"),
        ({"email": 7}, None, "sso_no_email"),
        ({}, None, "sso_no_email"),
        ({"email": "ana@mail.example.org"}, "example.org", "sso_wrong_domain"),
        ({"email": "ana@example.org.evil"}, "example.org", "sso_wrong_domain"),
    ],
)
def test_the_email_a_person_is_found_by(
    claims: dict[str, object], domain: str | None, outcome: str
) -> None:
    config = SsoConfig(issuer="https://i", client_id="c", client_secret="x", domain=domain)
    if "@" in outcome:
        assert email_of(dict(claims), config) == outcome
    else:
        with pytest.raises(SsoError) as refused:
            email_of(dict(claims), config)
        assert refused.value.code == outcome


# --- the command line ---------------------------------------------------------------------


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_sso_commands(
    tmp_path: Path,
    provider: OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("HALLPASS_PUBLIC_URL", raising=False)
    store = ["--store", f"sqlite:///{tmp_path / 'h.db'}"]
    assert run(monkeypatch, capsys, "school", "add", "lincoln", "--name", "Lincoln", *store)[0] == 0
    secret = "s3cret-value-never-shown"
    setting = ["sso", "set", "lincoln", "--issuer", provider.issuer, "--client-id", "cid"]

    code, out, err = run(
        monkeypatch, capsys, *setting, "--client-secret-stdin", "--domain", "@Example.org",
        *store, stdin=secret + "\n",
    )  # fmt: skip
    assert (code, err) == (0, "") and provider.issuer in out and "still work" in out
    code, out, err = run(monkeypatch, capsys, "sso", "show", "lincoln", *store)
    assert code == 0 and secret not in out
    for shown in (provider.issuer, "cid", "example.org", "never shown", "/api/sso/callback"):
        assert shown in out
    assert "password sign-in: on" in out

    code, out, err = run(
        monkeypatch, capsys, *setting, "--client-secret-stdin", "--no-password-signin", *store,
        stdin=secret,
    )  # fmt: skip
    assert code == 0 and "turned off" in out
    out = run(monkeypatch, capsys, "sso", "show", "lincoln", *store)[1]
    assert "password sign-in: off" in out and "any the provider" in out

    code, out, err = run(monkeypatch, capsys, "sso", "check", "lincoln", *store)
    assert code == 0 and f"{provider.issuer}/token" in out and "1 at" in out

    code, out, err = run(monkeypatch, capsys, "sso", "clear", "lincoln", *store)
    assert code == 0
    out = run(monkeypatch, capsys, "sso", "show", "lincoln", *store)[1]
    assert "no single sign-on" in out and "password sign-in on" in out
    code, out, err = run(monkeypatch, capsys, "sso", "check", "lincoln", *store)
    assert code == 1 and out == "" and "no single sign-on" in err


@pytest.mark.parametrize(
    ("args", "stdin", "exit_code", "says"),
    [
        (["--issuer", "http://accounts.google.com", "--client-id", "c"], "x", 2, "https"),
        (["--issuer", "https://accounts.google.com", "--client-id", " "], "x", 2, "client ID"),
        (["--issuer", "https://accounts.google.com", "--client-id", "c"], "", 2, "secret"),
        (["--issuer", "https://i.example", "--client-id", "c", "--domain", "x"], "s", 2, "domain"),
    ],
)
def test_bad_sso_settings_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    exit_code: int,
    says: str,
) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 'h.db'}"]
    code, out, err = run(
        monkeypatch, capsys, "sso", "set", "lincoln", *args, "--client-secret-stdin", *store,
        stdin=stdin,
    )  # fmt: skip
    assert (code, out) == (exit_code, "")
    assert len(err.splitlines()) == 1 and says in err


def test_sso_for_an_unknown_school_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 'h.db'}"]
    code, out, err = run(monkeypatch, capsys, "sso", "show", "nowhere", *store)
    assert (code, out) == (1, "") and "no school" in err
