"""The integration scripts published with each agent release: a POSIX shell installer and
systemd units (a oneshot service and the timer that runs it twice a day).

They are rendered per channel and release and published as TUF targets, so they are
signed with the rest. The installer pins the wheel it installs by its SHA-256 (the same
digest the signed targets metadata lists and the consistent-snapshot file name carries):
a shell cannot check Ed25519 signatures over canonical JSON, but it can refuse a wheel
whose digest differs from the one written into a script that was itself fetched through
TUF (or checked against ``certsight publish status``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from publishing.releases import AGENT_NAME

INSTALLER = "install.sh"
SERVICE = "certsight-agent.service"
TIMER = "certsight-agent.timer"
SCRIPT_NAMES = (INSTALLER, SERVICE, TIMER)


@dataclass(frozen=True)
class ReleaseInfo:
    """What the scripts of one release need to know."""

    channel: str
    version: str
    wheel_url_path: str  # /tuf/targets/channels/.../<sha256>.certsight_agent-...whl
    wheel_sha256: str
    base_url: str  # where the publishing folder is served, e.g. http://127.0.0.1:8081


_INSTALLER = """#!/bin/sh
# certsight-agent installer: channel {channel}, version {version}.
# Published and signed as a TUF target with the release it installs
# (certsight publish status lists its SHA-256). Usage:
#   sh install.sh [--base-url URL] [--prefix DIR] [--systemd]
# Installs the agent into a virtual environment at PREFIX (default /opt/certsight-agent)
# from the wheel below, refusing it unless its SHA-256 is the pinned one.
set -eu

BASE_URL="${{CERTSIGHT_PUBLISH_URL:-{base_url}}}"
PREFIX="${{CERTSIGHT_AGENT_PREFIX:-/opt/certsight-agent}}"
SYSTEMD=no
WHEEL_PATH="{wheel_url_path}"
WHEEL_NAME="{wheel_name}"
WHEEL_SHA256="{wheel_sha256}"
CHANNEL="{channel}"

while [ $# -gt 0 ]; do
    case "$1" in
        --base-url) BASE_URL="$2"; shift 2 ;;
        --prefix) PREFIX="$2"; shift 2 ;;
        --systemd) SYSTEMD=yes; shift ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

fail() {{ echo "install.sh: $*" >&2; exit 1; }}

command -v python3 >/dev/null 2>&1 || fail "python3 (3.11 or newer) is needed"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \\
    || fail "python3 is older than 3.11"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is needed"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT INT TERM
# fetch URL_PATH FILE SHA256: download, then refuse anything but the pinned digest.
fetch() {{
    url="${{BASE_URL%/}}$1"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -A "{agent}-installer/{version} ($CHANNEL; $(uname -s | tr A-Z a-z))" \\
            -o "$2" "$url" || fail "cannot download $url"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$url" || fail "cannot download $url"
    else
        fail "curl or wget is needed"
    fi
    got="$(sha256sum "$2" | cut -d' ' -f1)"
    [ "$got" = "$3" ] || fail "SHA-256 mismatch for $url: got $got, want $3; not installed"
}}

fetch "$WHEEL_PATH" "$WORK/$WHEEL_NAME" "$WHEEL_SHA256"

python3 -m venv "$PREFIX" || fail "cannot create a virtual environment at $PREFIX"
"$PREFIX/bin/python" -m pip install --disable-pip-version-check -q "$WORK/$WHEEL_NAME" \\
    || fail "pip could not install $WHEEL_NAME into $PREFIX"
"$PREFIX/bin/{agent}" --help >/dev/null || fail "the installed agent does not start"

if [ "$SYSTEMD" = yes ]; then
    fetch "{service_path}" "$WORK/{service}" "{service_sha256}"
    fetch "{timer_path}" "$WORK/{timer}" "{timer_sha256}"
    install -m 0644 "$WORK/{service}" "$WORK/{timer}" /etc/systemd/system/ \\
        || fail "cannot install the systemd units"
    systemctl daemon-reload
    systemctl enable --now {timer}
fi

echo "certsight-agent {version} ($CHANNEL) installed in $PREFIX"
echo "next: $PREFIX/bin/{agent} enroll --server URL --token TOKEN --name HOST \\
    --out /var/lib/certsight-agent"
"""

_SERVICE = """[Unit]
Description=certsight-agent: renew this host's certificate when due, then update the agent
Documentation=https://certsight.internal/docs/agent.md
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
# Quiet and exit 0 when nothing is due; non-zero (and loud) once the certificate is in
# its last 10% of life and renewal keeps failing.
ExecStart=/opt/certsight-agent/bin/certsight-agent renew --out /var/lib/certsight-agent
# The update follows the release channel ({channel}) and the staged rollout.
ExecStart=-/opt/certsight-agent/bin/certsight-agent update
StateDirectory=certsight-agent
PrivateTmp=yes
NoNewPrivileges=yes
ProtectSystem=full
"""

_TIMER = """[Unit]
Description=certsight-agent twice a day, at a random time per host

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=6h
FixedRandomDelay=yes
Persistent=yes

[Install]
WantedBy=timers.target
"""


def render(release: ReleaseInfo) -> dict[str, bytes]:
    """Each script's bytes, by file name. The units first: the installer pins their
    digests and consistent-snapshot paths as it pins the wheel's."""
    units = {
        SERVICE: _SERVICE.format(channel=release.channel).encode(),
        TIMER: _TIMER.encode(),
    }
    folder = release.wheel_url_path.rsplit("/agent/", 1)[0] + "/scripts"
    pinned = {}
    for name, data in units.items():
        digest = hashlib.sha256(data).hexdigest()
        key = name.removeprefix("certsight-agent.")
        pinned[f"{key}_path"] = f"{folder}/{digest}.{name}"
        pinned[f"{key}_sha256"] = digest
    values = {
        **pinned,
        "channel": release.channel,
        "version": release.version,
        "wheel_url_path": release.wheel_url_path,
        # saved under its own name (pip reads name and version from it), not the
        # consistent-snapshot one with the digest in front
        "wheel_name": release.wheel_url_path.rsplit("/", 1)[-1].split(".", 1)[1],
        "wheel_sha256": release.wheel_sha256,
        "base_url": release.base_url,
        "agent": AGENT_NAME,
        "service": SERVICE,
        "timer": TIMER,
    }
    return {INSTALLER: _INSTALLER.format(**values).encode(), **units}
