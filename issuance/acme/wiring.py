"""Build the ACME server from the issuance service it sits on, and mount it at
``/acme`` on the issuance API's app. ``certsight serve issuance`` calls ``mount_acme``
after building the runtime; the tests do the same."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from issuance.acme.accounts import Accounts
from issuance.acme.app import create_acme_app
from issuance.acme.ari import IssuerIndex
from issuance.acme.certificates import Certificates
from issuance.acme.eab import EabKeys
from issuance.acme.orders import Orders
from issuance.acme.settings import AcmeSettings
from issuance.acme.state import open_acme_state
from issuance.acme.validation import Validator
from issuance.service import IssuanceService
from issuance.settings import IssuanceSettings

ACME_PATH = "/acme"
VALIDATION_WORKERS = 4


def build_acme_app(
    *,
    service: IssuanceService,
    issuance: IssuanceSettings,
    settings: AcmeSettings,
    state_file: Path,
    clock: Callable[[], datetime],
) -> FastAPI:
    store = open_acme_state(settings.state, state_file)
    accounts = Accounts(store, EabKeys(store), settings, clock)
    issuers = IssuerIndex(issuance.all_backends, service.backend)
    executor = ThreadPoolExecutor(VALIDATION_WORKERS, thread_name_prefix="acme-validation")
    orders = Orders(
        store=store,
        accounts=accounts,
        service=service,
        issuers=issuers,
        validator=Validator(settings),
        executor=executor,
        settings=settings,
        clock=clock,
    )
    certificates = Certificates(
        service=service,
        accounts=accounts,
        issuers=issuers,
        retry_after=settings.renewal_info_retry_after_seconds,
        clock=clock,
    )
    return create_acme_app(
        settings=settings,
        store=store,
        accounts=accounts,
        orders=orders,
        certificates=certificates,
        clock=clock,
    )


def mount_acme(app: FastAPI, acme: FastAPI) -> None:
    app.mount(ACME_PATH, acme)
