from __future__ import annotations

from pathlib import Path

from ingest.schema import TABLES, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


def test_docs_show_the_schema_in_code() -> None:
    assert markdown() in DOC.read_text(), "regenerate: python -m ingest.schema"


def test_every_table_keeps_its_origin_and_a_time() -> None:
    for table in TABLES.values():
        names = table.names
        assert table.time_column in names
        assert "source_object" in names
        assert len(names) == len(set(names))
        for column in table.columns:
            assert column.doc
