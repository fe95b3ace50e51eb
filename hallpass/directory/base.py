"""The directory contract that the SQLite and Redis backends both keep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hallpass.directory.model import School, Session, User


class Directory(Protocol):
    async def add_school(self, school: School) -> None:
        """Add a school; raises ValueError when the slug is taken."""

    async def get_school(self, slug: str) -> School | None: ...

    async def schools(self) -> list[School]: ...

    async def update_school(self, school: School) -> None:
        """Replace the stored record (same slug); raises UnknownSchool when
        there is no such school."""

    async def add_user(self, user: User) -> None:
        """Raises DuplicateUser when the username, number or PIN key is taken
        in the school, UnknownSchool when the school does not exist."""

    async def update_user(self, user: User) -> None:
        """Replace the stored record (same id); keeps the indexes right."""

    async def save_users(self, school: str, added: Sequence[User], updated: Sequence[User]) -> None:
        """Add `added` and replace `updated` (by id) in one step, all or
        nothing; uniqueness is judged on the result, so people may trade
        usernames or numbers within one call. Raises UnknownSchool, KeyError
        (an updated id the school lacks), DuplicateUser (an added id that
        exists, a value taken twice) and ValueError (a user of another school)."""

    async def get_user(self, school: str, user_id: str) -> User | None: ...

    async def user_by_username(self, school: str, username: str) -> User | None: ...

    async def user_by_number(self, school: str, number: str) -> User | None: ...

    async def user_by_pin_key(self, school: str, pin_key: str) -> User | None: ...

    async def user_by_email(self, school: str, email: str) -> User | None:
        """The user whose email matches, ignoring case (see `email_key`);
        emails are unique within a school like usernames."""

    async def users(self, school: str) -> list[User]: ...

    async def delete_user(self, school: str, user_id: str) -> User | None:
        """Remove the user's record, every index entry that points to it and
        every session of theirs, leaving nothing that names them; returns the
        record removed, or None when the school had no such user."""

    # Sessions expire by themselves after `ttl` seconds without a touch.
    async def put_session(self, session: Session, ttl: float) -> None: ...

    async def get_session(self, token_hash: str) -> Session | None: ...

    async def delete_session(self, token_hash: str) -> None: ...

    async def close(self) -> None: ...
