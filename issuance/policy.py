"""Who may obtain which names: a caller's grant inside the enterprise's global rules.

Two layers, checked in this order for every name of a request:

1. Global rules no grant overrides: never a public suffix (``com``, ``co.uk``, or a
   wildcard directly under one), never a name a ``deny`` pattern matches, and never a
   name outside ``domains`` when the enterprise lists its zones.
2. The caller's grant (an API token, an IAM principal, an ACME account): the name must
   match one of its patterns, and the profile must be one of its profiles.

A refusal names the name and the rule, so the requester knows what to fix or whom
to ask.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from issuance.patterns import Pattern, parse_pattern
from issuance.problems import NAME_NOT_ALLOWED, UNKNOWN_PROFILE, Problem


@dataclass(frozen=True)
class Grant:
    """What one caller may obtain. ``requester`` is how events and the inventory name it
    (``api:<token name>``, ``iam:<principal>``, ``acme:<account>``)."""

    requester: str
    allow: tuple[Pattern, ...]
    profiles: tuple[str, ...]
    rate_limit: str

    @classmethod
    def build(
        cls, requester: str, allow: Iterable[str], profiles: Iterable[str], rate_limit: str
    ) -> Grant:
        return cls(
            requester=requester,
            allow=tuple(parse_pattern(p) for p in allow),
            profiles=tuple(profiles),
            rate_limit=rate_limit,
        )

    def check_profile(self, profile: str) -> None:
        if profile not in self.profiles:
            raise Problem(
                UNKNOWN_PROFILE,
                f"profile {profile!r} is not one this caller may use "
                f"({', '.join(self.profiles) or 'none'})",
                profile=profile,
            )


@dataclass(frozen=True)
class NamePolicy:
    """The enterprise's global rules (``[issuance] domains`` and ``deny``)."""

    domains: tuple[Pattern, ...] = ()
    deny: tuple[Pattern, ...] = ()

    @classmethod
    def build(cls, domains: Iterable[str], deny: Iterable[str]) -> NamePolicy:
        return cls(
            domains=tuple(parse_pattern(p) for p in domains),
            deny=tuple(parse_pattern(p) for p in deny),
        )

    def check(self, names: Sequence[str], grant: Grant) -> None:
        """Raise a ``name-not-allowed`` problem for the first name that fails a rule."""
        for name in names:
            self._check_global(name)
            if not any(pattern.matches(name) for pattern in grant.allow):
                patterns = ", ".join(p.text for p in grant.allow)
                _refuse(name, "grant", f"{name} matches none of the caller's patterns ({patterns})")

    def _check_global(self, name: str) -> None:
        if _is_public_suffix(name):
            _refuse(name, "public-suffix", f"{name} is or sits directly on a public suffix")
        for pattern in self.deny:
            if pattern.covers_domain(name) or _wildcard_covers(name, pattern):
                _refuse(name, f"deny:{pattern.text}", f"{name} is denied by rule {pattern.text}")
        if self.domains and not any(d.covers_domain(name) for d in self.domains):
            zones = ", ".join(d.text for d in self.domains)
            _refuse(name, "domains", f"{name} is outside the enterprise's domains ({zones})")


def _wildcard_covers(name: str, denied: Pattern) -> bool:
    """``*.corp.example`` is valid for ``vault.corp.example``: a wildcard is refused when
    a denied name sits one label below its base."""
    if not name.startswith("*.") or denied.kind != "exact":
        return False
    base = name[2:]
    head, _, rest = denied.suffix.partition(".")
    return rest == base and bool(head)


def _refuse(name: str, rule: str, detail: str) -> None:
    raise Problem(NAME_NOT_ALLOWED, detail, name=name, rule=rule)


@functools.cache
def _suffixes() -> object:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # the list bundled with the package: nothing is fetched


def _is_public_suffix(name: str) -> bool:
    """``com``, ``co.uk``, ``github.io``, ``*.com``: names that would cover other
    organisations' hosts. IP addresses are never suffixes."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        base = name[2:] if name.startswith("*.") else name
        return bool(_suffixes().is_public(base))  # type: ignore[attr-defined]
    return False
