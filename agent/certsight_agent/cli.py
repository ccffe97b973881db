"""The agent's command line (argparse: the agent depends on nothing beyond its three
libraries). Logs go to stderr, one line each; ``renew`` says nothing at the default
level when nothing is due, so cron mails and journals stay quiet."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from certsight_agent import __version__
from certsight_agent.home import AgentHome

log = logging.getLogger("certsight_agent")

DEFAULT_OUT = Path("/etc/certsight-agent")
UPDATE_REFUSED, UPDATE_FAILED = 5, 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certsight-agent",
        description="Obtain and renew this host's certificate; install trust stores; update.",
    )
    parser.add_argument("--version", action="version", version=f"certsight-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines too")
    commands = parser.add_subparsers(dest="command", required=True)

    enroll = commands.add_parser("enroll", help="first certificate, with a token")
    enroll.add_argument("--server", required=True, help="issuance API base URL (https://...)")
    secret = enroll.add_mutually_exclusive_group(required=True)
    secret.add_argument("--token", help="bearer token (visible in ps: prefer --token-file)")
    secret.add_argument("--token-file", type=Path, help="file holding the token")
    enroll.add_argument("--name", required=True, help="the certificate's first name (CN)")
    enroll.add_argument("--san", action="append", default=[], help="another name; repeatable")
    enroll.add_argument("--profile", help="issuance profile (server default: tls-server)")
    enroll.add_argument("--out", type=Path, default=DEFAULT_OUT)
    enroll.add_argument("--ca-bundle", type=Path, help="CA certificates the server chains to")
    _reload_options(enroll)
    enroll.add_argument("--p12", action="store_true", help="also write current/cert.p12")
    enroll.add_argument("--p12-password", help="password of the PKCS#12 (default: none)")

    renew = commands.add_parser("renew", help="renew when due (for a timer)")
    renew.add_argument("--out", type=Path, default=DEFAULT_OUT)
    renew.add_argument("--force", action="store_true", help="renew now, back-off ignored")

    rollback = commands.add_parser("rollback", help="make the previous set current again")
    rollback.add_argument("--out", type=Path, default=DEFAULT_OUT)
    _reload_options(rollback)

    status = commands.add_parser("status", help="what is installed and when it renews")
    status.add_argument("--out", type=Path, default=DEFAULT_OUT)
    status.add_argument("--format", choices=["text", "json"], default="text")

    trust = commands.add_parser("trust", help="trust stores")
    trust_commands = trust.add_subparsers(dest="trust_command", required=True)
    install = trust_commands.add_parser("install", help="install a trust-store bundle")
    install.add_argument("--repo", help="publishing base URL (default: the remembered one)")
    install.add_argument("--path", type=Path, required=True, help="where to write it")
    install.add_argument("--bundle", choices=["roots", "intermediates"], default="roots")
    install.add_argument("--format", choices=["pem", "p12", "p7b", "p7b.pem"], default="pem")
    install.add_argument("--root", type=Path, help="TUF root metadata instead of the shipped one")

    update = commands.add_parser("update", help="update the agent itself through TUF")
    update.add_argument("--repo", help="publishing base URL (remembered)")
    update.add_argument("--channel", help="release channel (remembered; default stable)")
    update.add_argument("--root", type=Path, help="TUF root metadata instead of the shipped one")
    update.add_argument("--rollback", action="store_true", help="back to the previous version")

    commands.add_parser("self-check", help="print this copy's version and location (JSON)")
    return parser


def _reload_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reload", help="command run after an install (no shell)")
    parser.add_argument("--signal", help="signal sent after an install, e.g. HUP")
    parser.add_argument("--pid-file", help="process to signal")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="certsight-agent: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("urllib3", "tuf", "securesystemslib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from certsight_agent.config import ConfigError
    from certsight_agent.useragent import user_agent

    home = AgentHome.from_environment()
    agent = user_agent(home.channel())
    try:
        if args.command == "enroll":
            return _enroll(args, agent)
        if args.command == "renew":
            from certsight_agent.lifecycle import renew

            return renew(args.out, force=args.force, user_agent=agent)
        if args.command == "rollback":
            return _rollback(args)
        if args.command == "status":
            from certsight_agent.status import as_text, describe

            report = describe(args.out, home)
            print(json.dumps(report, indent=2) if args.format == "json" else as_text(report))
            return 0
        if args.command == "trust":
            return _trust(args, home)
        if args.command == "update":
            return _update(args, home)
        if args.command == "self-check":
            return _self_check()
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    raise AssertionError(args.command)


def _enroll(args: argparse.Namespace, agent: str) -> int:
    from certsight_agent.hooks import parse_signal
    from certsight_agent.lifecycle import EnrollRequest, enroll

    token = args.token
    if args.token_file is not None:
        token = args.token_file.read_text().strip()
    if not token:
        log.error("the token is empty")
        return 1
    if bool(args.signal) != bool(args.pid_file):
        log.error("--signal and --pid-file go together")
        return 1
    if args.signal:
        try:
            parse_signal(args.signal)
        except ValueError as exc:
            log.error("%s", exc)
            return 1
    if args.p12_password and not args.p12:
        log.error("--p12-password needs --p12")
        return 1
    names = list(dict.fromkeys([args.name, *args.san]))
    request = EnrollRequest(
        server=args.server,
        token=token,
        names=names,
        out=args.out,
        profile=args.profile,
        ca_bundle=args.ca_bundle,
        reload=shlex.split(args.reload) if args.reload else None,
        signal=args.signal,
        pid_file=args.pid_file,
        p12=args.p12,
        p12_password=args.p12_password,
    )
    return enroll(request, user_agent=agent)


def _rollback(args: argparse.Namespace) -> int:
    from certsight_agent import certset
    from certsight_agent.config import AgentConfig
    from certsight_agent.hooks import run_reload

    try:
        restored = certset.rollback(args.out)
    except FileNotFoundError as exc:
        log.error("%s", exc)
        return 1
    log.info("%s/current -> %s", args.out, restored)
    config = AgentConfig.load(args.out)
    error = run_reload(
        out=args.out,
        command=shlex.split(args.reload) if args.reload else config.reload,
        signal_name=args.signal or config.signal,
        pid_file=args.pid_file or config.pid_file,
    )
    if error:
        log.error("RELOAD FAILED after the rollback: %s", error)
        return 4
    return 0


def _trust(args: argparse.Namespace, home: AgentHome) -> int:
    from certsight_agent.repository import (
        REFUSALS,
        UNREACHABLE,
        NoTrustedRoot,
        Repository,
        trusted_root,
    )
    from certsight_agent.trust import NoBundle, install_bundle
    from certsight_agent.useragent import user_agent

    settings = home.remember(repo=args.repo)
    repo = settings.get("repo")
    if not repo:
        log.error("no repository: pass --repo URL (it is remembered)")
        return 1
    try:
        repository = Repository(
            home, repo, user_agent=user_agent(home.channel()), root=trusted_root(args.root)
        )
        version = install_bundle(repository, bundle=args.bundle, fmt=args.format, path=args.path)
    except NoTrustedRoot as exc:
        log.error("%s", exc)
        return 1
    except NoBundle as exc:
        log.error("%s", exc)
        return UPDATE_FAILED
    except REFUSALS as exc:
        log.error("REFUSED by TUF verification: %s: %s", type(exc).__name__, exc)
        return UPDATE_REFUSED
    except UNREACHABLE as exc:
        log.error("the repository could not be read: %s", exc)
        return UPDATE_FAILED
    print(version)
    return 0


def _update(args: argparse.Namespace, home: AgentHome) -> int:
    from certsight_agent import selfupdate
    from certsight_agent.hostid import host_id
    from certsight_agent.repository import (
        REFUSALS,
        UNREACHABLE,
        NoTrustedRoot,
        Repository,
        trusted_root,
    )
    from certsight_agent.useragent import user_agent

    if args.rollback:
        try:
            restored = selfupdate.rollback(home)
        except FileNotFoundError as exc:
            log.error("%s", exc)
            return 1
        log.info("the agent runs %s again", restored)
        return 0
    settings = home.remember(repo=args.repo, channel=args.channel)
    repo = settings.get("repo")
    if not repo:
        log.error("no repository: pass --repo URL (it is remembered)")
        return 1
    channel = home.channel()
    try:
        repository = Repository(
            home, repo, user_agent=user_agent(channel), root=trusted_root(args.root)
        )
        outcome = selfupdate.update(home, repository, channel=channel, host_id=host_id(home))
    except NoTrustedRoot as exc:
        log.error("%s", exc)
        return 1
    except REFUSALS as exc:
        log.error("REFUSED by TUF verification: %s: %s", type(exc).__name__, exc)
        return UPDATE_REFUSED
    except UNREACHABLE as exc:
        log.error("the repository could not be read: %s", exc)
        return UPDATE_FAILED
    print(outcome)
    if outcome == selfupdate.DOWNGRADE:
        return UPDATE_REFUSED
    if outcome == selfupdate.SELF_CHECK_FAILED:
        return UPDATE_FAILED
    return 0


def _self_check() -> int:
    """Import every module of this copy and say which copy it is: `update` runs this in
    a new version before switching to it."""
    import importlib
    import pkgutil

    import certsight_agent

    package = Path(certsight_agent.__file__ or "").resolve().parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name != "launcher":
            importlib.import_module(f"certsight_agent.{module.name}")
    print(json.dumps({"version": __version__, "package": str(package), "pid": os.getpid()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
