"""The directory in Redis hashes.

A school's keys share the hash tag `{<school>}` with its event stream, so on
Redis Cluster they live in one slot and one Lua script can keep a user's
record and its four indexes consistent:

    hallpass:{<school>}:users       hash  user id  -> User JSON
    hallpass:{<school>}:usernames   hash  username -> user id
    hallpass:{<school>}:numbers     hash  number   -> user id
    hallpass:{<school>}:pins        hash  PIN key  -> user id
    hallpass:{<school>}:emails      hash  email_key(email) -> user id
    hallpass:schools                hash  slug     -> School JSON
    hallpass:session:<token hash>   string (expiry, Session) JSON, with PEXPIRE = ttl
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import msgspec
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from hallpass.directory.model import School, Session, UnknownSchool, User, email_key
from hallpass.directory.sqlite import check_batch, duplicate_user
from hallpass.events.redis import command_timeout
from hallpass.events.store import StoreUnavailable

Clock = Callable[[], float]

SCHOOLS_KEY = "hallpass:schools"


def school_key(school: str, part: str) -> str:
    return f"hallpass:{{{school}}}:{part}"


def session_key(token_hash: str) -> str:
    return f"hallpass:session:{token_hash}"


# A user's record and its indexes: KEYS of the two scripts below, in order.
USER_KEY_PARTS = ("users", "usernames", "numbers", "pins", "emails")


# Adds (ARGV[2] == "add") or replaces (ARGV[2] == "update") the user whose JSON
# record is ARGV[1]. The indexed values are read from the record itself, so
# the script and the record can never disagree. Returns nothing on success,
# else the name of the field that is taken, or "missing" / "exists".
_SAVE_USER = """
local users = KEYS[1]
local indexes = {username = KEYS[2], number = KEYS[3], pin_key = KEYS[4], email = KEYS[5]}
local fields = {"username", "number", "pin_key", "email"}
local record = cjson.decode(ARGV[1])
local id = record.id
local function value(rec, field)
    local v = rec[field]
    if v == nil or v == cjson.null then return nil end
    if field == "email" then
        -- email_key in model.py: trimmed, ASCII lower-cased, none when empty
        v = string.lower(string.match(v, "^%s*(.-)%s*$"))
        if v == "" then return nil end
    end
    return v
end

local old = nil
local old_json = redis.call("HGET", users, id)
if ARGV[2] == "add" then
    if old_json then return "exists" end
else
    if not old_json then return "missing" end
    old = cjson.decode(old_json)
end

for _, field in ipairs(fields) do
    local v = value(record, field)
    if v then
        local owner = redis.call("HGET", indexes[field], v)
        if owner and owner ~= id then return field end
    end
end

for _, field in ipairs(fields) do
    local v = value(record, field)
    if old then
        local was = value(old, field)
        if was and was ~= v and redis.call("HGET", indexes[field], was) == id then
            redis.call("HDEL", indexes[field], was)
        end
    end
    if v then redis.call("HSET", indexes[field], v, id) end
end
redis.call("HSET", users, id, ARGV[1])
return false
"""


# Adds the records ARGV[2 .. ARGV[1]+1] and replaces the rest, all or nothing:
# every check runs before the first write. A value may move between people of
# the call (its old owner is in the call and gives it up). Returns nothing on
# success, else {reason, value}: reason "exists" / "missing" (value: the id) or
# the indexed field that is taken (value: the value).
_SAVE_USERS = """
local users = KEYS[1]
local indexes = {username = KEYS[2], number = KEYS[3], pin_key = KEYS[4], email = KEYS[5]}
local fields = {"username", "number", "pin_key", "email"}
local added = tonumber(ARGV[1])
local function value(rec, field)
    local v = rec[field]
    if v == nil or v == cjson.null then return nil end
    if field == "email" then
        -- email_key in model.py: trimmed, ASCII lower-cased, none when empty
        v = string.lower(string.match(v, "^%s*(.-)%s*$"))
        if v == "" then return nil end
    end
    return v
end

local records, olds, in_call = {}, {}, {}
for i = 2, #ARGV do
    local record = cjson.decode(ARGV[i])
    local old_json = redis.call("HGET", users, record.id)
    if i - 1 <= added then
        if old_json then return {"exists", record.id} end
    else
        if not old_json then return {"missing", record.id} end
        olds[record.id] = cjson.decode(old_json)
    end
    records[#records + 1] = record
    in_call[record.id] = true
end

for _, field in ipairs(fields) do
    local claimed = {}
    for _, record in ipairs(records) do
        local v = value(record, field)
        if v then
            if claimed[v] then return {field, v} end
            claimed[v] = true
            local owner = redis.call("HGET", indexes[field], v)
            if owner and owner ~= record.id and not in_call[owner] then return {field, v} end
        end
    end
end

for _, record in ipairs(records) do
    local old = olds[record.id]
    if old then
        for _, field in ipairs(fields) do
            local was = value(old, field)
            if was and was ~= value(record, field)
                and redis.call("HGET", indexes[field], was) == record.id then
                redis.call("HDEL", indexes[field], was)
            end
        end
    end
end
for i, record in ipairs(records) do
    for _, field in ipairs(fields) do
        local v = value(record, field)
        if v then redis.call("HSET", indexes[field], v, record.id) end
    end
    redis.call("HSET", users, record.id, ARGV[i + 1])
end
return false
"""


# Removes the user ARGV[1] and each index entry that points to it; returns the
# record's JSON, or nothing when there was no such user.
_DELETE_USER = """
local users = KEYS[1]
local indexes = {username = KEYS[2], number = KEYS[3], pin_key = KEYS[4], email = KEYS[5]}
local id = ARGV[1]
local record_json = redis.call("HGET", users, id)
if not record_json then return false end
local record = cjson.decode(record_json)
for field, key in pairs(indexes) do
    local v = record[field]
    if v ~= nil and v ~= cjson.null then
        if field == "email" then v = string.lower(string.match(v, "^%s*(.-)%s*$")) end
        if redis.call("HGET", key, v) == id then redis.call("HDEL", key, v) end
    end
end
redis.call("HDEL", users, id)
return record_json
"""


class _StoredSession(msgspec.Struct, array_like=True):
    # The expiry travels with the session so that `get_session` can judge it
    # by the directory's clock too; Redis's own PEXPIRE does the clean-up.
    expires: float
    session: Session


_encode = msgspec.json.Encoder().encode
_school = msgspec.json.Decoder(School)
_user = msgspec.json.Decoder(User)
_stored_session = msgspec.json.Decoder(_StoredSession)


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        raise StoreUnavailable(f"Redis cannot be reached: {error}") from error


class RedisDirectory:
    def __init__(self, client: Redis, clock: Clock = time.time, owns_client: bool = True) -> None:
        self._redis = client
        self._clock = clock
        self._owns_client = owns_client
        self._save_user = client.register_script(_SAVE_USER)
        self._save_users = client.register_script(_SAVE_USERS)
        self._delete_user = client.register_script(_DELETE_USER)

    @classmethod
    def from_url(cls, url: str, clock: Clock = time.time) -> RedisDirectory:
        # Connects lazily: an unreachable Redis shows at the first call.
        timeout = command_timeout()  # the event store's, so one setting covers both
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, clock)

    # redis-py's hints cover its sync and async clients at once (and str
    # replies); these say what this async client with bytes replies returns.

    async def _hget(self, key: str, field: str) -> bytes | None:
        with _reachable():
            return await cast(Awaitable[bytes | None], self._redis.hget(key, field))

    async def _hvals(self, key: str) -> list[bytes]:
        with _reachable():
            return await cast(Awaitable[list[bytes]], self._redis.hvals(key))

    # --- schools -------------------------------------------------------------

    async def add_school(self, school: School) -> None:
        with _reachable():
            added = await cast(
                Awaitable[int],
                self._redis.hsetnx(SCHOOLS_KEY, school.slug, _encode(school).decode()),
            )
        if not added:
            raise ValueError(f"A school with the slug {school.slug!r} already exists.")

    async def get_school(self, slug: str) -> School | None:
        data = await self._hget(SCHOOLS_KEY, slug)
        return None if data is None else _school.decode(data)

    async def schools(self) -> list[School]:
        values = await self._hvals(SCHOOLS_KEY)
        return sorted((_school.decode(v) for v in values), key=lambda s: s.slug)

    async def update_school(self, school: School) -> None:
        with _reachable():
            known = await cast(Awaitable[bool], self._redis.hexists(SCHOOLS_KEY, school.slug))
            if not known:
                raise UnknownSchool(f"There is no school {school.slug!r}.")
            await cast(
                Awaitable[int], self._redis.hset(SCHOOLS_KEY, school.slug, _encode(school).decode())
            )

    # --- users ---------------------------------------------------------------

    async def _save(self, user: User, mode: str) -> Any:
        keys = [school_key(user.school, p) for p in USER_KEY_PARTS]
        with _reachable():
            return await self._save_user(keys=keys, args=[_encode(user), mode])

    async def add_user(self, user: User) -> None:
        # Schools are never removed, so checking outside the script is safe;
        # it has to be outside: the schools hash lives in another cluster slot.
        with _reachable():
            known = await cast(Awaitable[bool], self._redis.hexists(SCHOOLS_KEY, user.school))
        if not known:
            raise UnknownSchool(f"There is no school {user.school!r}.")
        refused = await self._save(user, "add")
        if refused is None:
            return
        field = refused.decode()
        if field == "exists":
            raise duplicate_user(user.school, "id", user.id)
        raise duplicate_user(user.school, field, getattr(user, field))

    async def update_user(self, user: User) -> None:
        """Raises KeyError when the school has no user with that id, and
        DuplicateUser when the new username, number or PIN key is taken."""
        refused = await self._save(user, "update")
        if refused is None:
            return
        field = refused.decode()
        if field == "missing":
            raise KeyError(f"school {user.school!r} has no user {user.id!r}")
        raise duplicate_user(user.school, field, getattr(user, field))

    async def save_users(self, school: str, added: Sequence[User], updated: Sequence[User]) -> None:
        """One script: Redis runs it whole, so no reader sees half of it."""
        check_batch(school, added, updated)
        with _reachable():
            known = await cast(Awaitable[bool], self._redis.hexists(SCHOOLS_KEY, school))
        if not known:
            raise UnknownSchool(f"There is no school {school!r}.")
        if not added and not updated:
            return
        keys = [school_key(school, p) for p in USER_KEY_PARTS]
        records = [_encode(user) for user in (*added, *updated)]
        with _reachable():
            refused = await self._save_users(keys=keys, args=[len(added), *records])
        if refused is None:
            return
        reason, value = (part.decode() for part in refused)
        if reason == "missing":
            raise KeyError(f"school {school!r} has no user {value!r}")
        raise duplicate_user(school, "id" if reason == "exists" else reason, value)

    async def get_user(self, school: str, user_id: str) -> User | None:
        data = await self._hget(school_key(school, "users"), user_id)
        return None if data is None else _user.decode(data)

    async def _user_by(self, school: str, index: str, value: str) -> User | None:
        user_id = await self._hget(school_key(school, index), value)
        return None if user_id is None else await self.get_user(school, user_id.decode())

    async def user_by_username(self, school: str, username: str) -> User | None:
        return await self._user_by(school, "usernames", username)

    async def user_by_number(self, school: str, number: str) -> User | None:
        return await self._user_by(school, "numbers", number)

    async def user_by_pin_key(self, school: str, pin_key: str) -> User | None:
        return await self._user_by(school, "pins", pin_key)

    async def user_by_email(self, school: str, email: str) -> User | None:
        key = email_key(email)
        return None if key is None else await self._user_by(school, "emails", key)

    async def users(self, school: str) -> list[User]:
        values = await self._hvals(school_key(school, "users"))
        return sorted((_user.decode(v) for v in values), key=lambda u: u.username)

    async def delete_user(self, school: str, user_id: str) -> User | None:
        """The record and its indexes go in one script; then every session
        of theirs (sessions are keyed by token, so this looks at each)."""
        keys = [school_key(school, p) for p in USER_KEY_PARTS]
        with _reachable():
            removed = await self._delete_user(keys=keys, args=[user_id])
        if removed is None:
            return None
        with _reachable():
            async for key in self._redis.scan_iter(match=session_key("*"), count=1000):
                data = await self._redis.get(key)
                if data is None:
                    continue
                session = _stored_session.decode(data).session
                if session.user == user_id and session.school == school:
                    await self._redis.delete(key)
        return _user.decode(removed)

    # --- sessions ------------------------------------------------------------

    async def put_session(self, session: Session, ttl: float) -> None:
        stored = _StoredSession(expires=self._clock() + ttl, session=session)
        with _reachable():
            await self._redis.set(
                session_key(session.token_hash), _encode(stored), px=max(1, round(ttl * 1000))
            )

    async def get_session(self, token_hash: str) -> Session | None:
        with _reachable():
            data = await self._redis.get(session_key(token_hash))
        if data is None:
            return None
        stored = _stored_session.decode(data)
        return stored.session if stored.expires > self._clock() else None

    async def delete_session(self, token_hash: str) -> None:
        with _reachable():
            await self._redis.delete(session_key(token_hash))

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
