"""What rucio-jupyterlab 41.0.0's own metrics.py records for a `def` and an `async def` handler.

Upstream decorates its five `async def` handlers (files, did, did-search, list-scopes, list-rses)
with the same synchronous `prometheus_metrics` as the others: the wrapper returns the coroutine
at once, so `Summary.time()` measures creating it, not the awaited work. This script downloads
the release from PyPI itself (`pip download --no-deps rucio-jupyterlab==41.0.0`), loads its
`rucio_jupyterlab/metrics.py` as it is, wraps a handler that takes DELAY seconds both ways, calls
each CALLS times and prints what the Summary's `_sum` gained for each.

How to run (a venv with prometheus_client, as for seed_pattern.py):

    python3 -m venv /tmp/seedvenv
    /tmp/seedvenv/bin/pip install -r benches/python/requirements.txt
    /tmp/seedvenv/bin/python benches/python/upstream_async_latency.py
"""

import asyncio
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from prometheus_client import REGISTRY

VERSION = "41.0.0"
DELAY = 0.2
CALLS = 3
SUM = "rucio_jupyterlab_request_latency_seconds_sum"
COUNT = "rucio_jupyterlab_requests_total"


def upstream_metrics(workdir: Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
         f"rucio-jupyterlab=={VERSION}", "-d", str(workdir)],
        check=True,
    )
    (sdist,) = workdir.glob("rucio_jupyterlab-*.tar.gz")
    member = f"rucio_jupyterlab-{VERSION}/rucio_jupyterlab/metrics.py"
    with tarfile.open(sdist) as archive:
        source = archive.extractfile(member).read()
    path = workdir / "upstream_metrics.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("upstream_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recorded(run) -> tuple[float, float]:
    """What `_sum` and the request counter gained while `run` ran."""
    before = (REGISTRY.get_sample_value(SUM) or 0.0, REGISTRY.get_sample_value(COUNT) or 0.0)
    run()
    after = (REGISTRY.get_sample_value(SUM), REGISTRY.get_sample_value(COUNT))
    return after[0] - before[0], after[1] - before[1]


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        metrics = upstream_metrics(Path(workdir))

    class Handler:
        @metrics.prometheus_metrics
        def get(self):
            time.sleep(DELAY)

        @metrics.prometheus_metrics
        async def get_async(self):
            await asyncio.sleep(DELAY)

    handler = Handler()

    def sync_calls():
        for _ in range(CALLS):
            handler.get()

    def async_calls():
        for _ in range(CALLS):
            asyncio.run(handler.get_async())

    rows = [("def", recorded(sync_calls)), ("async def", recorded(async_calls))]
    print(f"rucio-jupyterlab {VERSION} metrics.py, {CALLS} calls of a {DELAY} s handler each:")
    for kind, (latency_sum, count) in rows:
        print(f"  {kind:<10} requests_total +{count:.0f}   request_latency_seconds_sum +{latency_sum:.4f}")
    # The point of the script: the async handler's time is not recorded.
    sync_sum, async_sum = rows[0][1][0], rows[1][1][0]
    if not (sync_sum >= CALLS * DELAY and async_sum < 0.01 * CALLS * DELAY):
        print("unexpected: upstream's metrics.py changed behaviour", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
