"""Every SQL block of docs/analyst-questions.md runs, through `certsight sql`, on a built
warehouse and answers with rows: the worked examples cannot drift from the marts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.conftest import built_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "analyst-questions.md"
QUERIES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_scenario(tmp_path_factory.mktemp("analyst")).home


def test_the_page_has_its_ten_questions() -> None:
    assert len(re.findall(r"^## \d+\. ", DOC.read_text(), flags=re.MULTILINE)) == 10
    assert len(QUERIES) >= 10


@pytest.mark.parametrize("query", QUERIES, ids=[f"q{n}" for n in range(1, len(QUERIES) + 1)])
def test_query_answers(home: Path, query: str) -> None:
    result = CliRunner().invoke(
        main, ["sql", "--home", str(home), "--format", "json", query.strip().rstrip(";")]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows, f"no rows for:\n{query}"


def test_sql_is_read_only(home: Path) -> None:
    result = CliRunner().invoke(main, ["sql", "--home", str(home), "delete from alerts"])
    assert result.exit_code == 1
    assert "read-only" in result.output


def test_sql_formats(home: Path) -> None:
    csv = CliRunner().invoke(
        main, ["sql", "--home", str(home), "--format", "csv", "select 1 as a, 'x' as b"]
    )
    assert csv.output.splitlines() == ["a,b", "1,x"]
    error = CliRunner().invoke(main, ["sql", "--home", str(home), "select * from nowhere"])
    assert error.exit_code == 1 and "nowhere" in error.output


def test_sql_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sql", "--home", str(tmp_path), "select 1"])
    assert result.exit_code == 1
    assert "certsight build" in result.output


def test_docs_builds_the_data_dictionary_offline(home: Path) -> None:
    result = CliRunner().invoke(main, ["docs", "--home", str(home), "--no-serve"])
    assert result.exit_code == 0, result.output
    site = home / ".warehouse" / "docs" / "target" / "static_index.html"
    page = site.read_text()
    # the marts, their column descriptions and the live catalog (types from the warehouse)
    assert "client_server_edges" in page and "Staplers are not clients" in page
    assert '"data_type"' in page or "data_type" in page
