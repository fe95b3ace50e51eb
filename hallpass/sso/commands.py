"""The `hallpass sso` commands (docs/sso.md):

    hallpass sso set SCHOOL --issuer URL --client-id ID --client-secret-stdin
                            [--domain example.org] [--no-password-signin]
    hallpass sso show SCHOOL     the settings, never the secret
    hallpass sso check SCHOOL    asks the provider for its discovery document and keys
    hallpass sso clear SCHOOL    no single sign-on; password sign-in on again

hallpass.cli registers `add_commands`.
"""

from __future__ import annotations

import argparse
import os
import sys

from hallpass.cli import Subcommands, add_store_option, open_store
from hallpass.provision import Refused, check_slug, require_school
from hallpass.sso.provider import ProviderError, Providers
from hallpass.sso.setup import (
    check_client_id,
    check_domain,
    check_issuer,
    check_secret,
    clear_sso,
    describe,
    describe_provider,
    set_sso,
)

PUBLIC_URL_ENV = "HALLPASS_PUBLIC_URL"


def read_secret() -> str:
    """The client secret piped on standard input, less its final line break."""
    return check_secret(sys.stdin.read().removesuffix("\n").removesuffix("\r"))


async def run_set(args: argparse.Namespace) -> str:
    # Everything that needs no store is checked first.
    check_slug(args.school)
    check_issuer(args.issuer)
    check_client_id(args.client_id)
    if args.domain is not None:
        check_domain(args.domain)
    secret = read_secret()
    async with await open_store(args) as backend:
        school = await set_sso(
            backend.directory,
            args.school,
            issuer=args.issuer,
            client_id=args.client_id,
            client_secret=secret,
            domain=args.domain,
            password_signin=not args.no_password_signin,
        )
    assert school.sso is not None
    passwords = "still work" if school.password_signin else "are turned off"
    return (
        f"School {school.slug!r} now signs in with {school.sso.issuer}; passwords {passwords}. "
        f"Check it with `hallpass sso check {school.slug}`."
    )


async def run_show(args: argparse.Namespace) -> str:
    check_slug(args.school)
    async with await open_store(args) as backend:
        school = await require_school(backend.directory, args.school)
    return describe(school, os.environ.get(PUBLIC_URL_ENV))


async def run_check(args: argparse.Namespace) -> str:
    check_slug(args.school)
    async with await open_store(args) as backend:
        school = await require_school(backend.directory, args.school)
    if school.sso is None:
        raise Refused("sso_not_configured", f"School {school.slug!r} has no single sign-on set.")
    providers = Providers()
    try:
        metadata = await providers.metadata(school.sso.issuer)
        keys = await providers.keys(metadata)
    except ProviderError as error:
        raise Refused("sso_provider_error", f"The provider cannot be used: {error}") from None
    return describe_provider(metadata, len(keys.keys))


async def run_clear(args: argparse.Namespace) -> str:
    check_slug(args.school)
    async with await open_store(args) as backend:
        school = await clear_sso(backend.directory, args.school)
    return f"School {school.slug!r} has no single sign-on now; people sign in with passwords."


def add_commands(commands: Subcommands) -> None:
    sso = commands.add_parser("sso", help="single sign-on with a school's OpenID Connect provider")
    actions = sso.add_subparsers(dest="action", metavar="ACTION", required=True)

    set_ = actions.add_parser(
        "set", help="set the school's provider; the client secret is read from stdin"
    )
    set_.add_argument("school", metavar="SCHOOL")
    set_.add_argument(
        "--issuer", required=True, metavar="URL", help="e.g. https://accounts.google.com"
    )
    set_.add_argument("--client-id", required=True, metavar="ID")
    set_.add_argument(
        "--client-secret-stdin",
        action="store_true",
        required=True,
        help="read the client secret from standard input",
    )
    set_.add_argument(
        "--domain", metavar="DOMAIN", help="only addresses @DOMAIN may sign in (e.g. example.org)"
    )
    set_.add_argument(
        "--no-password-signin",
        action="store_true",
        help="people sign in with SSO only (kiosks keep their passwords)",
    )
    add_store_option(set_)
    set_.set_defaults(handler=run_set)

    for name, handler, words in (
        ("show", run_show, "show the school's single sign-on settings (never the secret)"),
        ("check", run_check, "ask the school's provider for its endpoints and keys"),
        ("clear", run_clear, "turn single sign-on off and password sign-in on"),
    ):
        action = actions.add_parser(name, help=words)
        action.add_argument("school", metavar="SCHOOL")
        add_store_option(action)
        action.set_defaults(handler=handler)
