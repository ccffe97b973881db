"""The JSON-lines file sink on a real file system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.warehouse.destinations.support import context, make_alert
from warehouse.delivery import deliver_all
from warehouse.destinations import DeliveryError
from warehouse.destinations.file import JsonLinesSettings, JsonLinesSink


def jsonl(path: Path, **keys: str) -> JsonLinesSink:
    settings = JsonLinesSettings.model_validate({"jsonl": str(path), **keys})
    return JsonLinesSink(settings, context(path.parent))


def test_jsonl_appends_one_object_per_alert_creating_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    sink = jsonl(path)
    sink.deliver([make_alert("a"), make_alert("b")])
    sink.deliver([make_alert("c", severity="low")])
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]
    assert json.loads(lines[0]) == make_alert("a").to_json()


def test_jsonl_path_is_relative_to_home(tmp_path: Path) -> None:
    settings = JsonLinesSettings.model_validate({"jsonl": "out/alerts.jsonl"})
    sink = JsonLinesSink(settings, context(tmp_path))
    assert sink.path == tmp_path / "out" / "alerts.jsonl"
    assert (sink.name, sink.min_severity) == ("jsonl", "low")


def test_jsonl_closes_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"key": "whole"}\n{"key": "torn')  # a crash mid-line
    jsonl(path).deliver([make_alert("next")])
    lines = path.read_text().splitlines()
    assert lines[-2] == '{"key": "torn'
    assert json.loads(lines[-1])["key"] == "next"


def test_jsonl_reports_the_alert_it_cannot_encode_and_writes_the_others(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    good, bad = make_alert("good"), make_alert("bad", evidence={"thing": object()})
    report = deliver_all([good, bad], [jsonl(path)])
    outcome = report.outcome("jsonl")
    assert outcome.delivered == ("good",)
    assert outcome.failed == ("bad",)
    assert "bad: cannot encode" in outcome.errors[0]
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["good"]


def test_jsonl_unwritable_path_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError, match="cannot append") as caught:
        jsonl(blocker / "alerts.jsonl").deliver([make_alert("a")])
    assert caught.value.delivered == ()
