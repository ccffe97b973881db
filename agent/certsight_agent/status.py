"""``status``: what is installed in DIR, when it renews, which agent runs and on which
channel; as text for people and JSON for scripts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography import x509

from certsight_agent import __version__, certset
from certsight_agent.clock import iso
from certsight_agent.config import AgentConfig, ConfigError
from certsight_agent.home import AgentHome
from certsight_agent.schedule import RenewalState


def describe(out: Path, home: AgentHome) -> dict[str, Any]:
    report: dict[str, Any] = {
        "agent_version": __version__,
        "channel": home.channel(),
        "repo": home.settings().get("repo"),
        "out": str(out),
        "installed": False,
    }
    try:
        config = AgentConfig.load(out)
        report.update(server=config.server, profile=config.profile, reload=bool(config.reload))
    except ConfigError as exc:
        report["error"] = str(exc)
    cert = certset.current_certificate(out)
    if cert is None:
        return report
    state = RenewalState.load(out)
    serial = certset.serial_hex(cert.serial_number)
    names = [str(n.value) for n in _sans(cert)]
    report.update(
        installed=True,
        set=certset.current_target(out),
        previous=_readlink(out / "previous"),
        serial=serial,
        names=names,
        not_before=iso(cert.not_valid_before_utc),
        not_after=iso(cert.not_valid_after_utc),
    )
    if state is not None and state.serial == serial:
        report.update(
            issuer=state.issuer,
            renew_at=state.renew_at,
            renewal_window={"start": state.window_start, "end": state.window_end},
            window_source=state.window_source,
            failures=state.failures,
            next_attempt=state.next_attempt,
            last_error=state.last_error,
        )
    return report


def as_text(report: dict[str, Any]) -> str:
    lines = [f"certsight-agent {report['agent_version']} (channel {report['channel']})"]
    if not report["installed"]:
        lines.append(f"{report['out']}: nothing installed" + _error(report))
        return "\n".join(lines)
    lines += [
        f"{report['out']}/current -> {report['set']}",
        f"  serial     {report['serial']}",
        f"  names      {', '.join(report['names'])}",
        f"  valid      {report['not_before']} .. {report['not_after']}",
        f"  renews at  {report.get('renew_at', 'unknown (run renew)')}",
    ]
    if report.get("failures"):
        lines.append(
            f"  failing    {report['failures']} attempts, next after {report['next_attempt']}:"
            f" {report['last_error']}"
        )
    return "\n".join(lines)


def _error(report: dict[str, Any]) -> str:
    return f" ({report['error']})" if report.get("error") else ""


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value)


def _readlink(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
