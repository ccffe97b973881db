"""``certsight publish``: trust stores, agent releases (channels, staged rollout,
promotion), documents, and the upkeep of the TUF repository that signs them
(docs/publishing.md).

Everything lands under HOME/publish (what ``certsight serve publishing`` serves); the
TUF keys live under HOME/publishing/keys, outside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from certsight.commands.common import console, errors, home_option
from certsight.settings import CertsightSettings, Home
from publishing.publisher import Publisher, PublishingError
from publishing.repository import Published

F = TypeVar("F", bound=Callable[..., Any])

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


SYNC_ENV = "CERTSIGHT_PUBLISH_SYNC"
# Exit codes of a failed upload, so a scheduled job can tell what to fix (docs/cli.md):
# 1 nothing to upload, a bad URI or a bucket ahead of HOME; 3 no bucket; 4 access denied;
# 5 S3 unreachable or failing part way (a re-run completes it).
EXIT_BUCKET_MISSING = 3
EXIT_ACCESS_DENIED = 4
EXIT_S3_FAILED = 5


class SyncFailed(click.ClickException):
    """S3 unreachable or failing part way: one line on stderr, exit 5."""

    exit_code = EXIT_S3_FAILED


class SyncRefused(SyncFailed):
    """Nothing to upload, a bad URI, or a bucket ahead of or diverged from HOME."""

    exit_code = 1


class BucketMissing(SyncFailed):
    exit_code = EXIT_BUCKET_MISSING


class AccessDenied(SyncFailed):
    exit_code = EXIT_ACCESS_DENIED


def sync_option(command: F) -> F:
    """``--sync s3://BUCKET/PREFIX`` (or ``CERTSIGHT_PUBLISH_SYNC``): upload HOME/publish
    after the command changed it."""
    return click.option(
        "--sync",
        "sync_uri",
        envvar=SYNC_ENV,
        default=None,
        metavar="s3://BUCKET[/PREFIX]",
        help=f"after publishing, upload HOME/publish there (env {SYNC_ENV})",
    )(command)


def run_sync(home: Home, uri: str, *, after: str | None = None) -> None:
    """Upload HOME/publish to ``uri``: uploaded keys on stdout, a summary on stderr."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from publishing.s3sync import (
        AccessDeniedError,
        BucketMissingError,
        S3Sync,
        SyncConflictError,
        SyncError,
        SyncSourceError,
    )

    done = f"{after}: done in {served_folder(home)}, but " if after else ""
    try:
        syncer = S3Sync(served_folder(home), uri, boto3.session.Session().client("s3"))
        report = syncer.run(lambda key: click.echo(f"uploaded s3://{syncer.bucket}/{key}"))
    except BotoCoreError as exc:  # no usable AWS configuration (e.g. an unknown profile)
        raise AccessDenied(f"{done}the sync failed: {exc}") from exc
    except SyncError as exc:
        kind: type[SyncFailed] = (
            BucketMissing
            if isinstance(exc, BucketMissingError)
            else AccessDenied
            if isinstance(exc, AccessDeniedError)
            else SyncRefused
            if isinstance(exc, SyncSourceError | SyncConflictError)
            else SyncFailed
        )
        raise kind(f"{done}the sync failed: {exc}") from exc
    click.echo(
        f"synced {syncer.location}: {len(report.uploaded)} uploaded, {report.unchanged} "
        f"unchanged, {report.kept} kept that are not local",
        err=True,
    )


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
@sync_option
@home_option
def truststore_command(home: Home, password: str | None, sync_uri: str | None) -> None:
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
    if sync_uri:
        run_sync(home, sync_uri, after="publish truststore")


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
@sync_option
@home_option
def agent_command(
    home: Home,
    channel: str,
    rollout: int,
    version: str | None,
    wheel: Path | None,
    sources: Path,
    sync_uri: str | None,
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
    if sync_uri:
        run_sync(home, sync_uri, after="publish agent")


@publish.command("promote")
@click.option("--version", "version", required=True)
@click.option("--from", "source", required=True, help="channel it is on (e.g. canary)")
@click.option("--to", "destination", required=True, help="channel to release it on")
@click.option("--rollout", default=100, show_default=True, type=click.IntRange(0, 100))
@sync_option
@home_option
def promote_command(
    home: Home, version: str, source: str, destination: str, rollout: int, sync_uri: str | None
) -> None:
    """Release the very wheel of a version from one channel on another."""
    try:
        published = publisher_for(home).promote(
            version, source=source, destination=destination, rollout=rollout
        )
    except PublishingError as exc:
        raise _fail(exc) from exc
    _print(published)
    if sync_uri:
        run_sync(home, sync_uri, after="publish promote")


@publish.command("rollout")
@click.option("--version", "version", required=True)
@click.option("--channel", required=True)
@click.option("--percent", required=True, type=click.IntRange(0, 100))
@sync_option
@home_option
def rollout_command(
    home: Home, version: str, channel: str, percent: int, sync_uri: str | None
) -> None:
    """Change a release's staged-rollout percent (0 stops it; hosts already on it stay)."""
    try:
        published = publisher_for(home).rollout(version, channel=channel, rollout=percent)
    except PublishingError as exc:
        raise _fail(exc) from exc
    _print([published])
    if sync_uri:
        run_sync(home, sync_uri, after="publish rollout")


@publish.command("docs")
@click.option(
    "--docs-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=REPOSITORY_ROOT / "docs",
    show_default=True,
)
@sync_option
@home_option
def docs_command(home: Home, docs_dir: Path, sync_uri: str | None) -> None:
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
    if sync_uri:
        run_sync(home, sync_uri, after="publish docs")


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
@sync_option
@home_option
def refresh_command(home: Home, force: bool, sync_uri: str | None) -> None:
    """Renew TUF metadata that is running out (run it daily: the timestamp lasts two days)."""
    try:
        renewed = publisher_for(home).refresh(force=force)
    except PublishingError as exc:
        raise _fail(exc) from exc
    if renewed:
        console.print(f"re-signed: {', '.join(renewed)}")
    else:
        errors.print("nothing due")
    if sync_uri:
        run_sync(home, sync_uri, after="publish refresh")


@publish.command("sync")
@click.argument("uri", envvar=SYNC_ENV, metavar="s3://BUCKET[/PREFIX]")
@home_option
def sync_command(home: Home, uri: str) -> None:
    """Upload HOME/publish to S3 (behind CloudFront): only what changed, targets and
    files first, TUF metadata last (timestamp.json at the very end), nothing deleted."""
    run_sync(home, uri)
