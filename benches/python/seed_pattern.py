"""Per-call cost of the Python seed's metrics pattern, for comparison with benches/benches/*.rs.

The seed (rucio-jupyterlab's metrics.py) wraps every handler method in a decorator that does
`REQUEST_COUNT.inc()` and then runs the handler inside `with REQUEST_LATENCY.time():`, with a
prometheus_client `Counter` and `Summary`. This times that decorator around a trivial handler
body (`x + 1`), next to the bare method and to the same decorator without the metrics, with the
stdlib `timeit`: each variant runs REPEAT times NUMBER calls, and the median is reported.

How to run (a venv, not the system Python):

    python3 -m venv /tmp/seedvenv
    /tmp/seedvenv/bin/pip install -r benches/python/requirements.txt
    /tmp/seedvenv/bin/python benches/python/seed_pattern.py            # 7 x 200,000 calls
    /tmp/seedvenv/bin/python benches/python/seed_pattern.py 5 100000   # REPEAT NUMBER
"""

import functools
import platform
import statistics
import sys
import timeit
from importlib.metadata import version

from prometheus_client import REGISTRY, Counter, Summary

# The seed's metrics.py, as it is.
REQUEST_COUNT = Counter("my_jupyterlab_extension_requests_total", "Total number of HTTP requests")
REQUEST_LATENCY = Summary(
    "my_jupyterlab_extension_request_latency_seconds", "Latency of HTTP requests"
)


def prometheus_metrics(handler_method):
    @functools.wraps(handler_method)
    def wrapper(self, *args, **kwargs):
        REQUEST_COUNT.inc()
        with REQUEST_LATENCY.time():
            return handler_method(self, *args, **kwargs)

    return wrapper


def no_metrics(handler_method):
    """The same decorator minus the metrics: what the wrapping alone costs."""

    @functools.wraps(handler_method)
    def wrapper(self, *args, **kwargs):
        return handler_method(self, *args, **kwargs)

    return wrapper


class BareHandler:
    def get(self, x):
        return x + 1


class WrappedHandler:
    @no_metrics
    def get(self, x):
        return x + 1


class SeedHandler:
    @prometheus_metrics
    def get(self, x):
        return x + 1


def median_ns_per_call(handler, repeat, number):
    timings = timeit.repeat("get(1)", globals={"get": handler.get}, repeat=repeat, number=number)
    return statistics.median(timings) / number * 1e9


def main():
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    number = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000

    # One call first, and a check that it was recorded: the loop times a real recording path.
    assert SeedHandler().get(1) == 2
    assert REGISTRY.get_sample_value("my_jupyterlab_extension_requests_total") == 1.0
    assert REGISTRY.get_sample_value("my_jupyterlab_extension_request_latency_seconds_count") == 1.0

    rows = [
        ("bare method", median_ns_per_call(BareHandler(), repeat, number)),
        ("decorator, no metrics", median_ns_per_call(WrappedHandler(), repeat, number)),
        ("seed: Counter.inc + Summary.time", median_ns_per_call(SeedHandler(), repeat, number)),
    ]
    recorded = REGISTRY.get_sample_value("my_jupyterlab_extension_requests_total")
    assert recorded == 1 + repeat * number, recorded

    bare = rows[0][1]
    print(f"Python {platform.python_version()}, prometheus_client {version('prometheus_client')}")
    print(f"median of {repeat} x {number:,} calls, ns per call")
    print()
    print(f"| {'variant':<34} | {'ns/call':>8} | {'minus bare':>10} |")
    print(f"|{'-' * 36}|{'-' * 9}:|{'-' * 11}:|")
    for name, ns in rows:
        print(f"| {name:<34} | {ns:8.1f} | {ns - bare:10.1f} |")


if __name__ == "__main__":
    main()
