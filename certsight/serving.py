"""Wire the home folder to the validation server's runtime configuration."""

from __future__ import annotations

from certsight.settings import Home
from responders.web.runtime import RuntimeConfig, build_runtime


def runtime_config(
    home: Home, *, role: str = "all", ocsp_validity: int = 3600, log_batch_seconds: float = 60.0
) -> RuntimeConfig:
    home.pki.read_config()  # a clear "run ca init first" before any server starts
    config = RuntimeConfig(
        pki_dir=str(home.pki.root),
        raw_dir=str(home.raw),
        store_uri=home.store_uri,
        roles=("ocsp", "crl") if role == "all" else (role,),
        ocsp_validity_s=ocsp_validity,
        log_batch_seconds=log_batch_seconds,
    )
    # Build once before any worker starts: a missing key or an unreachable store then
    # ends as one clear error line instead of a traceback from every worker.
    build_runtime(config, adapter="http").store.close()
    return config
