"""Who a sandboxed program is on the host.

A caller that is not root lends its own uid (mapped to 65534 inside a user namespace). A root
caller must not: a program that is host root, even without capabilities, passes every plain
permission check (host sysctls, root-only files, RLIMIT_NPROC, which does not bind root). So each
run from root gets a fresh uid and gid that no user and no file on the host has, taken from a
range far above the ones distributions and container runtimes allocate; being unique per run,
RLIMIT_NPROC counts that run's tasks alone.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

FIRST_UID = 2_000_000_000  # under 2**31, above the ranges of /etc/login.defs and /etc/subuid
UID_SPAN = 2**24


@dataclass(frozen=True)
class HostUser:
    uid: int
    gid: int


def for_run() -> HostUser | None:
    """A fresh unprivileged host user for a root caller; None for any other caller."""
    if os.geteuid() != 0:
        return None
    uid = FIRST_UID + secrets.randbelow(UID_SPAN)
    return HostUser(uid, uid)
