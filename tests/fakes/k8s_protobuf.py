"""Just enough of the Kubernetes protobuf encoding for helm's release records.

helm stores each release as a Secret and writes it with
`Content-Type: application/vnd.kubernetes.protobuf` (its client asks for JSON back, which the
fake answers). This decodes the `k8s\\0` envelope and the fields of Secret, ConfigMap and
DeleteOptions into the JSON shape the API would have received; any other kind is refused, as
the caller answers 415 for it.
"""
import base64

MAGIC = b"k8s\x00"


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message; bytes for length-delimited."""
    index = 0

    def varint():
        nonlocal index
        shift = result = 0
        while True:
            byte = data[index]
            index += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while index < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 1:
            value, index = data[index:index + 8], index + 8
        elif wire == 2:
            length = varint()
            value, index = data[index:index + length], index + length
        elif wire == 5:
            value, index = data[index:index + 4], index + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _string_map(entries: list[bytes], decode_value=lambda raw: raw.decode()) -> dict:
    result = {}
    for entry in entries:
        parts = {number: value for number, _, value in _fields(entry)}
        result[parts.get(1, b"").decode()] = decode_value(parts.get(2, b""))
    return result


def _object_meta(data: bytes) -> dict:
    meta, labels, annotations = {}, [], []
    names = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion", 5: "uid"}
    for number, _, value in _fields(data):
        if number in names:
            meta[names[number]] = value.decode()
        elif number == 11:
            labels.append(value)
        elif number == 12:
            annotations.append(value)
    if labels:
        meta["labels"] = _string_map(labels)
    if annotations:
        meta["annotations"] = _string_map(annotations)
    return meta


def _secret_or_config_map(kind: str, data: bytes) -> dict:
    body: dict = {"metadata": {}}
    entries: dict[int, list[bytes]] = {}
    for number, wire, value in _fields(data):
        if number == 1:
            body["metadata"] = _object_meta(value)
        elif wire == 2:
            entries.setdefault(number, []).append(value)
        elif number == 5 and kind == "Secret":
            body["immutable"] = bool(value)
    if kind == "Secret":
        if 2 in entries:
            body["data"] = _string_map(entries[2], lambda raw: base64.b64encode(raw).decode())
        if 3 in entries:
            body["type"] = entries[3][0].decode()
    else:  # ConfigMap: data=2, binaryData=3
        if 2 in entries:
            body["data"] = _string_map(entries[2])
        if 3 in entries:
            body["binaryData"] = _string_map(entries[3], lambda raw: base64.b64encode(raw).decode())
    return body


def _delete_options(data: bytes) -> dict:
    body = {}
    for number, _, value in _fields(data):
        if number == 1:
            body["gracePeriodSeconds"] = value
        elif number == 4:
            body["propagationPolicy"] = value.decode()
    return body


def decode(raw: bytes) -> dict:
    """A protobuf request body as the equivalent JSON object; ValueError for anything else."""
    if not raw.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf message")
    envelope = {number: value for number, _, value in _fields(raw[len(MAGIC):])}
    type_meta = {number: value.decode() for number, _, value in _fields(envelope.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    payload = envelope.get(2, b"")
    if kind in ("Secret", "ConfigMap"):
        body = _secret_or_config_map(kind, payload)
    elif kind == "DeleteOptions":
        body = _delete_options(payload)
    else:
        raise ValueError(f"protobuf bodies of kind {kind or '?'} are not supported by the fake")
    return {"apiVersion": api_version, "kind": kind, **body}
