"""What every command shares: the consoles, the clock, ``--home`` and the errors a user
can fix (printed as one line, exit 1; anything else is a bug and keeps its traceback)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from certsight.settings import Home

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can fix; anything else is a bug and keeps its traceback.

    Imported only when a command has failed: importing every module's error classes up
    front would put pyarrow, the dashboards and the warehouse into the start-up of every
    command, ``certsight revoke`` included.
    """
    from certsight.dashboarding import DashboardConfigError
    from certsight.querying import QueryError
    from certsight.reporting import ReportError
    from certsight.settings import SettingsError
    from dashboards.settings import DashboardSettingsError
    from ingest.locking import LakeBusyError
    from ingest.sources import SourceError
    from ingest.storage import StorageError
    from issuance.api.server import IssuanceServerError
    from issuance.backends.base import BackendError
    from issuance.hierarchy import CaExistsError
    from issuance.operations import AmbiguousSerialError
    from issuance.patterns import PatternError
    from issuance.signers import KmsSignerError
    from issuance.tokens import TokenError
    from pki.certificates import IssuanceError
    from pki.pem import CertificateFileError
    from pki.reasons import ReasonError
    from pki.serials import SerialFormatError
    from pki.store.base import StoreError
    from responders.web.server import ServerStartError
    from warehouse.dbt_runner import DbtError
    from warehouse.networks import NetworksError
    from warehouse.outbox import OutboxError
    from warehouse.reading import WarehouseMissingError
    from warehouse.swap import WarehouseFileError

    return (
        CaExistsError,
        CertificateFileError,
        FileExistsError,
        FileNotFoundError,
        IssuanceError,
        SerialFormatError,
        StoreError,
        AmbiguousSerialError,
        ReasonError,
        ServerStartError,
        SourceError,
        LakeBusyError,
        StorageError,
        NetworksError,
        DbtError,
        SettingsError,
        QueryError,
        WarehouseMissingError,
        WarehouseFileError,
        OutboxError,
        DashboardConfigError,
        DashboardSettingsError,
        ReportError,
        IssuanceServerError,
        BackendError,
        PatternError,
        TokenError,
        KmsSignerError,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def home_option(command: F) -> F:
    """``--home DIR`` on every command, after its name (env CERTSIGHT_HOME, default ./data)."""

    @click.option(
        "--home",
        "home_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="certsight home (env CERTSIGHT_HOME, default ./data)",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, home_dir: Path | None, **kwargs: Any) -> Any:
        try:
            return command(*args, home=Home.resolve(home_dir), **kwargs)
        except (click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if isinstance(exc, user_errors()):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper  # type: ignore[return-value]


def chosen_profiles(home: Home, profiles: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The profiles a new credential (token or EAB key) is bound to, the default when none
    is named, and the default rate limit: from ``[issuance]``. An unknown profile is a
    one-line user error (TokenError) naming the known ones."""
    from certsight.settings import CertsightSettings
    from issuance.settings import DEFAULT_PROFILE
    from issuance.tokens import TokenError

    settings = CertsightSettings.load(home).issuance
    chosen = profiles or (DEFAULT_PROFILE,)
    known = settings.all_profiles()
    unknown = [p for p in chosen if p not in known]
    if unknown:
        raise TokenError(f"unknown profile {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return chosen, settings.rate_limit
