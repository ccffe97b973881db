"""The deployable units: what each zip holds, that it loads on Lambda, and runs alone.

The zips are built for real (pip installs each unit's closure for the Lambda platform
from the configured index and its cache), unpacked, and checked: every compiled file
comes from a wheel that needs no newer glibc than manylinux2014's 2.17 (by the wheels'
tags and by the ELF files' own symbol versions), every module has bytecode for this
Python, and each unit's handler is imported by a fresh interpreter that cannot see the
venv (tests/lambda_sandbox.py), without compiling any module of the zip. The
validation unit then answers real OCSP requests from that folder, with a PKI folder
holding no CA key, and the ingest unit, whose numpy and pyarrow fall back to older
versions (the venv's publish no manylinux2014 wheels), ingests a real SQS batch of S3
notifications on moto's server into a LAKE that is read back. A build from a
wheelhouse is checked with the network cut off. How a version is chosen when the
venv's has no wheel is tested on made-up distributions, through pip from a local
wheelhouse and with a stand-in for pip.
"""
