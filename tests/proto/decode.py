"""Decodes a length-delimited stream of io.prometheus.client.MetricFamily messages from stdin.

metrics.proto (next to this file) is compiled by protoc for the protobuf package, so nothing of
the encoder under test is used. Prints every field that is set, one per line, as
`path = value`: `family[0].metric[1].histogram.positive_span[0].offset = -37`. Enums print
their names, strings and numbers Python's repr.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def compiled_module():
    out = tempfile.mkdtemp(prefix="metrics_pb2_")
    subprocess.run(
        ["protoc", f"--proto_path={HERE}", f"--python_out={out}", "metrics.proto"],
        check=True,
    )
    sys.path.insert(0, out)
    import metrics_pb2  # noqa: E402

    return metrics_pb2


def emit(path, field, value):
    if field.type == field.TYPE_MESSAGE:
        flatten(path, value)
    elif field.type == field.TYPE_ENUM:
        print(f"{path} = {field.enum_type.values_by_number[value].name}")
    else:
        print(f"{path} = {value!r}")


def flatten(path, message):
    for field, value in message.ListFields():
        if field.label == field.LABEL_REPEATED:
            for index, item in enumerate(value):
                emit(f"{path}.{field.name}[{index}]", field, item)
        else:
            emit(f"{path}.{field.name}", field, value)


def main():
    from google.protobuf.internal.decoder import _DecodeVarint32

    metrics_pb2 = compiled_module()
    data = sys.stdin.buffer.read()
    position = 0
    index = 0
    while position < len(data):
        size, position = _DecodeVarint32(data, position)
        family = metrics_pb2.MetricFamily()
        family.ParseFromString(data[position : position + size])
        if len(family.SerializeToString()) != size:
            sys.exit(f"family {index}: fields this decoder does not know")
        position += size
        flatten(f"family[{index}]", family)
        index += 1
    if position != len(data):
        sys.exit("the stream ends inside a message")


main()
