"""``certsight simulate`` as an operator types it: usage, output and refusals.

A mistake ends in a one-line ``Error:`` and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from certsight.cli import main

SMALL = [
    "--end",
    "2026-11-28",
    "--days",
    "6",
    "--learning-days",
    "3",
    "--requests",
    "4000",
    "--clients",
    "60",
    "--servers",
    "60",
    "--incidents",
    "1",
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTSIGHT_HOME", raising=False)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_simulate_lake_then_refuse_to_mix_a_second_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = cli("simulate", "--home", home, "--format", "lake", *SMALL)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "expected alerts:" in result.output and "ocsp_requests" in result.output
    truth = json.loads((home / "simulation" / "truth.json").read_text())
    assert truth["start"] == "2026-11-22T00:00:00.000000Z"
    assert truth["end"] == "2026-11-28T00:00:00.000000Z"
    assert (home / "lake" / "ocsp_requests").is_dir() and (home / "networks.csv").is_file()
    again = cli("simulate", "--home", home, "--format", "lake", *SMALL)
    assert again.exit_code == 1
    assert "already holds a simulation" in again.output and "Traceback" not in again.output


def test_simulate_raw_with_a_lake_elsewhere_is_refused_but_raw_works(tmp_path: Path) -> None:
    refused = cli("simulate", "--home", tmp_path, "--lake", tmp_path / "x", *SMALL)
    assert refused.exit_code == 2 and "--lake goes with --format lake" in refused.output
    result = cli("simulate", "--home", tmp_path / "raw-home", *SMALL)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "certsight ingest" in result.output
    assert list((tmp_path / "raw-home" / "raw" / "standard-logs").rglob("*.gz"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days"),
        (["--days", "4", "--learning-days", "3"], "learning period"),
        (["--end", "yesterday"], "--end"),
        (["--format", "csv"], "--format"),
        (["--requests", "10"], "--requests"),
        (["--clients", "5"], "--clients"),
        (["--incidents", "-1"], "--incidents"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    options = {SMALL[i]: SMALL[i + 1] for i in range(0, len(SMALL), 2)}
    options.update({args[i]: args[i + 1] for i in range(0, len(args), 2)})
    result = cli("simulate", "--home", tmp_path, *[x for pair in options.items() for x in pair])
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "simulation").exists()
