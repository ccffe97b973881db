"""PEP 440 ordering for the versions the agent meets: releases with optional
pre-release (aN, bN, rcN), post-release and dev-release parts. Enough to find the
newest release and to refuse a downgrade, without a dependency beyond the three
(``packaging`` is not one of them)."""

from __future__ import annotations

import re

_PATTERN = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:(?P<pre>a|b|rc)(?P<pre_n>\d+))?"
    r"(?:\.post(?P<post>\d+))?"
    r"(?:\.dev(?P<dev>\d+))?$"
)
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}
VersionKey = tuple[tuple[int, ...], tuple[int, int], int, float]


class BadVersion(ValueError):
    pass


def version_key(text: str) -> VersionKey:
    found = _PATTERN.match(text.strip().lower())
    if found is None:
        raise BadVersion(f"{text!r} is not a version this agent can order")
    release = tuple(int(p) for p in found["release"].split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    if found["pre"]:
        pre = (_PRE_RANK[found["pre"]], int(found["pre_n"]))
    elif found["dev"] is not None and found["post"] is None:
        pre = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (3, 0)
    post = int(found["post"]) if found["post"] is not None else -1
    dev = float(found["dev"]) if found["dev"] is not None else float("inf")
    return release, pre, post, dev
