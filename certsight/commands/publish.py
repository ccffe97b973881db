"""``certsight publish``: trust stores, agent releases (channels, staged rollout,
promotion), documents, and the upkeep of the TUF repository that signs them
(docs/publishing.md).

Everything lands under HOME/publish (what ``certsight serve publishing`` serves); the
TUF keys live under HOME/publishing/keys, outside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from certsight.commands.common import console, errors, home_option
from certsight.settings import CertsightSettings, Home
from publishing.publisher import Publisher, PublishingError
from publishing.repository import Published

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
AGENT_SOURCES = REPOSITORY_ROOT / "agent"
DOC_PAGES = ("agent.md", "publishing.md")


def served_folder(home: Home) -> Path:
    return home.root / "publish"


def key_folder(home: Home) -> Path:
    return home.root / "publishing" / "keys"


def publisher_for(home: Home) -> Publisher:
    settings = CertsightSettings.load(home).publishing
    return Publisher(
        served_folder(home),
        key_folder(home),
        channels=tuple(settings.channels),
        base_url=settings.served_url,
    )


def truststore_password(home: Home, given: str | None) -> str:
    """``--password``, else the variable ``[publishing] truststore_password_env`` names,
    else Java's default ``changeit``."""
    from publishing.truststore import DEFAULT_PASSWORD

    if given:
        return given
    settings = CertsightSettings.load(home)
    found = settings.environment.secret(settings.publishing.truststore_password_env)
    return found or DEFAULT_PASSWORD


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def _print(published: list[Published]) -> None:
    for item in published:
        custom = item.custom
        what = " ".join(
            str(custom[k])
            for k in ("kind", "name", "version", "format", "channel")
            if custom.get(k)
        )
        console.print(f"{what}  {item.url_path}", soft_wrap=True, highlight=False)


@click.group()
def publish() -> None:
    """Publish trust stores, agent releases and documents through the TUF repository."""


@publish.command("truststore")
@click.option(
    "--password",
    default=None,
    help="PKCS#12 password (default: the variable [publishing] truststore_password_env "
    "names, CERTSIGHT_TRUSTSTORE_PASSWORD, else changeit)",
)
@home_option
def truststore_command(home: Home, password: str | None) -> None:
    """The CA hierarchy as trust-store bundles (roots, intermediates): PEM, PKCS#7 (DER
    and PEM) and a PKCS#12 Java trust store, versioned by content."""
    from publishing.cacerts import load_ca_certificates

    certificates = [ca.certificate for ca in load_ca_certificates(home.pki)]
    try:
        published = publisher_for(home).truststore(
            certificates, password=truststore_password(home, password)
        )
    except (PublishingError, ValueError) as exc:
        raise _fail(exc) from exc
    _print(published)


@publish.command("agent")
@click.option("--channel", required=True, help="release channel (see [publishing] channels)")
@click.option("--rollout", default=100, show_default=True, type=click.IntRange(0, 100))
@click.option("--version", "version", default=None, help="default: agent/pyproject.toml's")
@click.option(
    "--wheel",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="a built certsight-agent wheel (default: build one from --sources)",
)
@click.option(
    "--sources",
    type=click.Path(file_okay=False, path_type=Path),
    default=AGENT_SOURCES,
    show_default=True,
    help="the agent's sources (its pyproject.toml)",
)
@home_option
def agent_command(
    home: Home, channel: str, rollout: int, version: str | None, wheel: Path | None, sources: Path
) -> None:
    """Release the agent on a channel with a staged rollout percent; the repository's
    root metadata is embedded in the wheel as its root of trust."""
    from publishing.wheel import WheelError, build_wheel, wheel_metadata

    try:
        if wheel is not None:
            data = wheel.read_bytes()
            if version is not None and wheel_metadata(data)[1] != version:
                raise PublishingError(
                    f"{wheel} is version {wheel_metadata(data)[1]}, not {version}"
                )
        else:
            data = build_wheel(sources, version)
        published = publisher_for(home).agent(data, channel=channel, rollout=rollout)
    except (PublishingError, WheelError, ValueError) as exc:
        raise _fail(exc) from exc
    _print(published)


@publish.command("promote")
@click.option("--version", "version", required=True)
@click.option("--from", "source", required=True, help="channel it is on (e.g. canary)")
@click.option("--to", "destination", required=True, help="channel to release it on")
@click.option("--rollout", default=100, show_default=True, type=click.IntRange(0, 100))
@home_option
def promote_command(home: Home, version: str, source: str, destination: str, rollout: int) -> None:
    """Release the very wheel of a version from one channel on another."""
    try:
        published = publisher_for(home).promote(
            version, source=source, destination=destination, rollout=rollout
        )
    except PublishingError as exc:
        raise _fail(exc) from exc
    _print(published)


@publish.command("rollout")
@click.option("--version", "version", required=True)
@click.option("--channel", required=True)
@click.option("--percent", required=True, type=click.IntRange(0, 100))
@home_option
def rollout_command(home: Home, version: str, channel: str, percent: int) -> None:
    """Change a release's staged-rollout percent (0 stops it; hosts already on it stay)."""
    try:
        published = publisher_for(home).rollout(version, channel=channel, rollout=percent)
    except PublishingError as exc:
        raise _fail(exc) from exc
    _print([published])


@publish.command("docs")
@click.option(
    "--docs-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=REPOSITORY_ROOT / "docs",
    show_default=True,
)
@home_option
def docs_command(home: Home, docs_dir: Path) -> None:
    """Publish the agent and publishing documentation pages as signed targets."""
    pages = {
        name: (docs_dir / name).read_bytes() for name in DOC_PAGES if (docs_dir / name).exists()
    }
    if not pages:
        raise click.ClickException(f"none of {', '.join(DOC_PAGES)} in {docs_dir}")
    try:
        published = publisher_for(home).docs(pages)
    except PublishingError as exc:
        raise _fail(exc) from exc
    _print(published)


@publish.command("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@home_option
def status_command(home: Home, fmt: str) -> None:
    """Every published artifact: kind, name, version, channel and URL path."""
    publisher = publisher_for(home)
    try:
        listed = publisher.status()
        expiries = publisher.repository.expiries()
    except PublishingError as exc:
        raise _fail(exc) from exc
    if fmt == "json":
        document = {
            "artifacts": listed,
            "metadata_expires": {role: when.isoformat() for role, when in expiries.items()},
        }
        click.echo(json.dumps(document, indent=2))
        return
    for item in listed:
        extra = f" rollout {item['rollout']}%" if item.get("rollout") is not None else ""
        console.print(
            f"{item['kind']:<10} {item['name']:<16} {item['version'] or '-':<18} "
            f"{item['channel'] or '-':<8}{extra}  {item['url_path']}",
            soft_wrap=True,
            highlight=False,
        )
    for role, when in expiries.items():
        console.print(f"{role} metadata expires {when.isoformat()}", highlight=False)


@publish.command("refresh")
@click.option("--force", is_flag=True, help="re-sign every online role now")
@home_option
def refresh_command(home: Home, force: bool) -> None:
    """Renew TUF metadata that is running out (run it daily: the timestamp lasts two days)."""
    try:
        renewed = publisher_for(home).refresh(force=force)
    except PublishingError as exc:
        raise _fail(exc) from exc
    if renewed:
        console.print(f"re-signed: {', '.join(renewed)}")
    else:
        errors.print("nothing due")
