"""``certsight simulate``: a synthetic enterprise whose PKI traffic comes with ground truth.

Detectors cannot be measured on production logs, where nobody knows which alerts
are true. This package builds an enterprise (CAs with real keys, servers whose
certificates renew, clients with stable habits, network zones), lets it run for a
number of days, injects incidents, and writes what production would have written
(RAW logs, or the LAKE directly) together with one ground-truth entry per alert a
perfect detector should raise (docs/simulate.md).

Everything follows from ``--seed`` and ``--end``: the enterprise is planned first
(pure functions over numpy arrays), then traffic is generated one hour at a time
from a random stream of its own, so both output modes see the same requests and
memory stays bounded however long the simulation runs.
"""
