"""Password hashing (Argon2id) and the password rules of NIST SP 800-63B-4."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import sys
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from huddle.config import PasswordHashing
from huddle.errors import Invalid

MIN_LENGTH_WITHOUT_MFA = 15
MIN_LENGTH_WITH_MFA = 8
# NIST asks verifiers to accept at least 64; the cap only bounds hashing work.
MAX_LENGTH = 256
PRODUCT_NAME = "huddle"

R = TypeVar("R")


def normalize(password: str) -> str:
    """NFKC, so the same typed password hashes the same from any keyboard or OS."""
    return unicodedata.normalize("NFKC", password)


# Hashing threads yield the CPU to the event loop (Linux nice values are per thread, and
# libargon2's lane threads inherit them): a sign-in storm then takes only what the
# server leaves idle. Measured in bench scenario (e).
HASHING_NICENESS = 10


def _lower_priority() -> None:
    if sys.platform != "linux":  # elsewhere a thread id is not a valid PRIO_PROCESS target
        return
    thread = threading.get_native_id()
    # Relative to where the server runs (it may already be niced); never raise priority,
    # and never fail: a broken pool would refuse every sign-in.
    niceness = min(19, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, thread, niceness)


class PasswordHasher:
    """Argon2id in worker threads of its own, at most `max_concurrent` at once, at a
    lower CPU priority than the event loop. One hash costs ~100 ms and most of a core;
    on the event loop it would stall every connection, and unbounded it would let a
    login flood starve the server.
    """

    def __init__(self, params: PasswordHashing) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        self._threads = ThreadPoolExecutor(
            max_workers=params.max_concurrent,
            thread_name_prefix="argon2",
            initializer=_lower_priority,
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, normalize(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if it matches. With no hash (unknown account) it still spends the same
        time on a dummy hash, so timing does not reveal which accounts exist."""
        if password_hash is None:
            password_hash = await self._dummy()
            await self._run(self._verify, password_hash, normalize(password))
            return False
        return await self._run(self._verify, password_hash, normalize(password))

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not a real password, only spends time")
        return self._dummy_hash

    async def _run(self, func: Callable[..., R], *args: str) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._threads, func, *args)


def check_new_password(password: str, *, email: str, mfa_enabled: bool) -> None:
    """Raise Invalid (with a code saying which rule) unless `password` may be set."""
    normalized = normalize(password)
    minimum = MIN_LENGTH_WITH_MFA if mfa_enabled else MIN_LENGTH_WITHOUT_MFA
    if len(normalized) < minimum:
        raise Invalid(
            f"Password must be at least {minimum} characters"
            + ("." if mfa_enabled else " (8 once two-step sign-in is on)."),
            code="password_too_short",
        )
    if len(normalized) > MAX_LENGTH:
        raise Invalid(
            f"Password must be at most {MAX_LENGTH} characters.", code="password_too_long"
        )
    folded = normalized.casefold()
    if folded in common_passwords():
        raise Invalid(
            "This password is on a list of common or breached passwords; choose another.",
            code="password_common",
        )
    email_name = email.split("@", 1)[0].casefold()
    if len(email_name) >= 3 and email_name in folded:
        raise Invalid("Password must not contain your e-mail name.", code="password_has_email")
    if PRODUCT_NAME in folded:
        raise Invalid("Password must not contain the product name.", code="password_has_product")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords (Django's, 19,640 entries)."""
    data = resources.files("huddle.identity").joinpath("data/common-passwords.txt.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().casefold() for line in lines if line.strip())
