"""Where things live: one home folder, overridable by ``--home`` or ``CERTSIGHT_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pki.layout import PkiLayout

HOME_ENV = "CERTSIGHT_HOME"
STORE_ENV = "CERTSIGHT_STORE"
CRLS_ENV = "CERTSIGHT_CRLS"
DEFAULT_HOME = Path("data")


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, option: str | Path | None) -> Home:
        chosen = option or os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().absolute())

    @property
    def pki(self) -> PkiLayout:
        return PkiLayout(self.root / "pki")

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def certs(self) -> Path:
        """Default output folder of ``certsight issue``."""
        return self.root / "certs"

    @property
    def store_uri(self) -> str:
        """``CERTSIGHT_STORE`` (e.g. ``dynamodb://certsight-certificates``) or the SQLite file."""
        return os.environ.get(STORE_ENV) or str(self.pki.store)

    @property
    def crl_location(self) -> str:
        """Where the CRL updater stores signed CRLs and the responders read them:
        ``CERTSIGHT_CRLS`` (a folder or ``s3://bucket/prefix``) or ``HOME/pki/crl``."""
        return os.environ.get(CRLS_ENV) or str(self.pki.crl_dir)
