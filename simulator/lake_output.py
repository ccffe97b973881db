"""LAKE mode: the tables written directly, laid out as the ingest lays them out.

``<lake>/<table>/dt=YYYY-MM-DD/part-<run>-<sequence>-<index>.parquet``, zstd, ``dt``
only in the folder name, rows in time order, at most a million rows a file, and the
ingest's commit protocol (files staged, one manifest, then published; the LAKE's
lock held throughout), so readers never see half a simulation and a later
``certsight ingest`` into the same LAKE works as usual.

Memory stays bounded: an hour is turned into Arrow tables and appended to one open
Parquet file per table (a row group an hour), then dropped. Parquet encoding and
compression run on a second thread (pyarrow lets go of the GIL), overlapping the
next hour's generation; at most two hours wait for it.
"""

from __future__ import annotations

import base64
import itertools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.lake import ROWS_PER_FILE, STAGING, Lake, RunManifest, new_run_id
from ingest.schema import TABLES
from simulator.delivery import CrlHour, DownloadHour, OcspHour
from simulator.enterprise import Enterprise
from simulator.lake_rows import (
    PLAIN_STRINGS,
    Lookups,
    Origin,
    crl_rows,
    download_rows,
    ocsp_cdn_rows,
    ocsp_origin_rows,
    physical_schema,
)
from simulator.layout import LAKE_PREFIX, HourObjects, cdn_order
from simulator.published import certificate_rows, issuer_rows, revocation_rows
from simulator.text import day_text


def lookups_for(enterprise: Enterprise) -> Lookups:
    crls = enterprise.delivery.crls
    files = enterprise.downloads.artifacts
    return Lookups(
        client_ip=pa.array(enterprise.clients.ip, pa.string()),
        user_agent=pa.array([v or "" for v in enterprise.delivery.user_agents.values]),
        catalogue=enterprise.model.catalogue,
        crl_path=pa.array([f"/crl/{s}.crl" for s in crls.slugs], pa.string()),
        crl_name=pa.array(crls.slugs, pa.string()),
        crl_issuer=pa.array(crls.issuer_key_sha1, pa.string()),
        file_path=pa.array([a.path for a in files], pa.string()),
        file_kind=pa.array([a.kind for a in files], pa.string()),
        file_name=pa.array([a.name for a in files], pa.string()),
        file_version=pa.array([a.version or "" for a in files], pa.string()),
        file_channel=pa.array([a.channel or "" for a in files], pa.string()),
        file_has_version=np.array([a.version is not None for a in files]),
        file_has_channel=np.array([a.channel is not None for a in files]),
        file_size=np.array([a.size for a in files], np.int64),
    )


def hour_tables(
    objects: HourObjects,
    ocsp: OcspHour,
    crl: CrlHour,
    files: DownloadHour,
    lookups: Lookups,
    prefix: str,
) -> list[tuple[str, str, pa.Table]]:
    """An hour's rows as (table, source, rows), each in time order. CDN and responder
    rows go to files of their own: each is in time order as generated, so nothing is
    sorted or merged."""
    cdn_ocsp = np.flatnonzero(ocsp.via_cdn)
    origin_ocsp = np.flatnonzero(ocsp.at_origin)
    cdn_crl = np.flatnonzero(crl.via_cdn)
    origin_crl = np.flatnonzero(crl.at_origin)
    order = cdn_order(ocsp.requests.moment[cdn_ocsp], crl.moment[cdn_crl], files.moment)
    cloudfront = prefix + objects.cloudfront

    def lines(count: int) -> np.ndarray:
        return np.arange(1, count + 1, dtype=np.int64)

    return [
        (
            "ocsp_requests",
            "cloudfront",
            ocsp_cdn_rows(ocsp, cdn_ocsp, lookups, Origin(cloudfront, order.lines_of(0))),
        ),
        (
            "ocsp_requests",
            "lambda",
            ocsp_origin_rows(
                ocsp, origin_ocsp, lookups, Origin(prefix + objects.ocsp, lines(len(origin_ocsp)))
            ),
        ),
        (
            "crl_fetches",
            "cloudfront",
            crl_rows(crl, cdn_crl, lookups, Origin(cloudfront, order.lines_of(1)), cdn=True),
        ),
        (
            "crl_fetches",
            "lambda",
            crl_rows(
                crl,
                origin_crl,
                lookups,
                Origin(prefix + objects.crl, lines(len(origin_crl))),
                cdn=False,
            ),
        ),
        (
            "artifact_downloads",
            "cloudfront",
            download_rows(files, lookups, Origin(cloudfront, order.lines_of(2))),
        ),
    ]


def file_metadata(name: str) -> dict[bytes, bytes]:
    """What the ingest's files carry: the table's metadata and its Arrow schema (with
    plain string columns), so that readers see exactly the LAKE's schema."""
    schema = TABLES[name].schema
    return {
        b"ARROW:schema": base64.b64encode(schema.serialize().to_pybytes()),
        **(schema.metadata or {}),
    }


@dataclass
class _OpenFile:
    day: str
    relative: str
    writer: pq.ParquetWriter
    output: Any
    rows: int = 0


class _Lane:
    """A thread writing the streams given to it, in the order given: each stream (a
    table's rows from one source) has one open file at a time."""

    def __init__(self, lake: Lake, run_id: str, numbers: Iterator[int], name: str) -> None:
        self._lake = lake
        self._run_id = run_id
        self._numbers = numbers
        self._open: dict[tuple[str, str], _OpenFile] = {}
        self.files: list[str] = []
        self.failure: BaseException | None = None
        self._queue: queue.Queue[tuple[str, str, pa.Table] | None] = queue.Queue(maxsize=3)
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def put(self, item: tuple[str, str, pa.Table]) -> None:
        if self.failure is not None:
            raise self.failure
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.failure is not None:
            raise self.failure

    def abandon(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._thread.join(timeout=0.1)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self.failure is not None:
                continue
            try:
                self._write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the producing thread
                self.failure = exc
        try:
            for stream in list(self._open):
                self._close(stream)
        except BaseException as exc:  # noqa: BLE001 - handed to the producing thread
            self.failure = self.failure or exc

    def _write(self, name: str, source: str, table: pa.Table) -> None:
        day = day_text(int(table.column(TABLES[name].time_column)[0].value))
        stream = (name, source)
        current = self._open.get(stream)
        if current is not None and (current.day != day or current.rows >= ROWS_PER_FILE):
            self._close(stream)
            current = None
        if current is None:
            current = self._start(stream, day)
        current.writer.write_table(table)
        current.rows += table.num_rows

    def _start(self, stream: tuple[str, str], day: str) -> _OpenFile:
        name = stream[0]
        relative = f"{name}/dt={day}/part-{self._run_id}-{next(self._numbers):04d}-0.parquet"
        path = self._lake.where.path(STAGING, self._run_id, relative)
        if not self._lake.where.is_s3:
            self._lake.fs.create_dir(path.rpartition("/")[0], recursive=True)
        output = self._lake.fs.open_output_stream(path)
        schema = physical_schema(name)
        coded = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        writer = pq.ParquetWriter(
            output,
            schema,
            compression="zstd",
            # Random ids hardly compress: zstd's fast mode spends half the time on them.
            compression_level={f.name: -5 if f.name in PLAIN_STRINGS else 1 for f in schema},
            use_dictionary=coded,
            # Statistics where readers prune on them (times, numbers); string statistics
            # of dictionary columns would cost more than the rest of the write.
            write_statistics=[f.name for f in schema if f.name not in coded],
            store_schema=False,  # the LAKE's schema is added as metadata at the end
        )
        opened = _OpenFile(day, relative, writer, output)
        self._open[stream] = opened
        return opened

    def _close(self, stream: tuple[str, str]) -> None:
        handle = self._open.pop(stream)
        handle.writer.add_key_value_metadata(file_metadata(stream[0]))
        handle.writer.close()
        handle.output.close()
        self.files.append(handle.relative)


# The CDN's OCSP rows are half of all rows: they get a thread of their own.
_OWN_LANE = {("ocsp_requests", "cloudfront"): 0}


class LakeWriter:
    """Streams tables into staged Parquet files, then commits them as one run."""

    def __init__(self, lake: Lake, now: datetime) -> None:
        self.lake = lake
        self.now = now
        self.run_id = new_run_id(now)
        self.rows: dict[str, int] = {}
        self._staged: list[str] = []
        numbers = itertools.count(1)
        self._lanes = [_Lane(lake, self.run_id, numbers, f"parquet-{i}") for i in range(2)]

    def append(self, name: str, source: str, table: pa.Table) -> None:
        """Rows of ``physical_schema(name)`` from one source, after the ones before."""
        if table.num_rows:
            self.rows[name] = self.rows.get(name, 0) + table.num_rows
            self._lanes[_OWN_LANE.get((name, source), 1)].put((name, source, table))

    def stage_whole(self, name: str, table: pa.Table) -> None:
        """A small table (the inventory), split by day and sorted the ingest's way."""
        self.rows[name] = self.rows.get(name, 0) + table.num_rows
        self._staged += self.lake.stage(self.run_id, TABLES[name], table, sequence=0)

    def finish(self, source: dict[str, Any]) -> RunManifest:
        for lane in self._lanes:
            lane.close()
        files = sorted([*self._staged, *(f for lane in self._lanes for f in lane.files)])
        manifest = RunManifest(self.run_id, self.now.isoformat(), [source], files)
        self.lake.commit(manifest)
        self.lake.publish(manifest)
        return manifest

    def abandon(self) -> None:
        """Stop writing; the staged files belong to no manifest, so the next ingest or
        simulation deletes them."""
        for lane in self._lanes:
            lane.abandon()


def write_inventory(writer: LakeWriter, enterprise: Enterprise) -> None:
    writer.stage_whole("certificates", certificate_rows(enterprise, LAKE_PREFIX))
    writer.stage_whole("issuers", issuer_rows(enterprise, LAKE_PREFIX))
    writer.stage_whole("revocations", revocation_rows(enterprise, LAKE_PREFIX))
