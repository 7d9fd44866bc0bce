"""Shared by publish.py, subscribe.py and compare.py (the interop suite's Python side).

Uses nothing but the standard library, Debian's python3-protobuf and a fanout_pb2 module
that Debian's protoc generates from proto/fanout.proto into a temporary directory at run
time (never committed).

Canonical JSON of a message (what subscribe.py prints per event, and what subscribe.mjs
--canon prints too, byte for byte):

  * json_format.MessageToDict(preserving_proto_field_name=True, use_integers_for_enums=True,
    including_default_value_fields=True): every field, proto names, enums as numbers,
    64-bit integers as decimal strings, 32-bit ones as numbers; a sub-message only when it
    is present (then with all its fields);
  * every double (float) as Python's float.hex() of its exact value ("-0x0.0p+0" for -0.0,
    "0x0.0000000000001p-1022" for 5e-324, "inf"/"-inf"), taken from the message itself, not
    from MessageToDict's float;
  * "_unknown": the fields the .proto does not know, in wire order, where a message has any:
    [{"field": N, "wire_type": W, "value": V}], V the varint or fixed value as a decimal
    string (unsigned), or the bytes of a length-delimited field as lowercase hex;
  * json.dumps with sorted keys, no spaces, UTF-8 as is (ensure_ascii=False).
"""

import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal import decoder as pb_decoder
from google.protobuf.internal import encoder as pb_encoder


def load_pb2(proto_path):
    """Runs protoc (Debian's protobuf-compiler; $PROTOC overrides) on proto_path into a
    temporary directory and imports the generated fanout_pb2 from there."""
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        raise SystemExit("protoc not found (Debian package protobuf-compiler)")
    proto_path = os.path.abspath(proto_path)
    out = tempfile.mkdtemp(prefix="fanout-pb2.")
    try:
        subprocess.run([protoc, "--proto_path=" + os.path.dirname(proto_path),
                        "--python_out=" + out, proto_path], check=True)
        sys.path.insert(0, out)
        try:
            return importlib.import_module(os.path.splitext(os.path.basename(proto_path))[0]
                                           + "_pb2")
        finally:
            sys.path.remove(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ---- canonical JSON ---------------------------------------------------------------------

_FLOATING = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def dbl(x):
    """A double, exactly: float.hex() (NaN has no canonical form here and is refused)."""
    if x != x:
        raise ValueError("NaN has no canonical form")
    return float(x).hex()


def _unknown(msg):
    out = []
    for u in msg.UnknownFields():
        w = u.wire_type
        if w == 2:
            v = bytes(u.data).hex()
        elif w in (0, 1, 5):
            v = str(u.data & 0xFFFFFFFFFFFFFFFF)
        else:
            v = "group"  # wire types 3/4: the server refuses them, so never stored
        out.append({"field": u.field_number, "wire_type": w, "value": v})
    return out


def _fix(msg, d):
    for fd in msg.DESCRIPTOR.fields:
        name = fd.name
        if fd.type in _FLOATING:
            if fd.label == FieldDescriptor.LABEL_REPEATED:
                d[name] = [dbl(x) for x in getattr(msg, name)]
            elif name in d:
                d[name] = dbl(getattr(msg, name))
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.label == FieldDescriptor.LABEL_REPEATED:
                for sub, sd in zip(getattr(msg, name), d[name]):
                    _fix(sub, sd)
            elif msg.HasField(name):
                _fix(getattr(msg, name), d[name])
    unk = _unknown(msg)
    if unk:
        d["_unknown"] = unk
    return d


def canon_dict(msg):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                  use_integers_for_enums=True,
                                  including_default_value_fields=True)
    return _fix(msg, d)


def dumps(d):
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canon(msg):
    """The canonical JSON line (without newline) of msg."""
    return dumps(canon_dict(msg))


# ---- framing ----------------------------------------------------------------------------

def varint(n):
    return pb_encoder._VarintBytes(n)


def delimited(msg):
    body = msg.SerializeToString()
    return varint(len(body)) + body


class FrameReader:
    """Delimited frames off a socket: varint length + body (bodies returned as bytes)."""

    MAX_FRAME = 64 << 20

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.bytes_in = 0

    def frames(self):
        """Yields every complete frame now buffered, then reads more (blocking, with the
        socket's timeout); stops at EOF."""
        while True:
            while True:
                f = self._take()
                if f is None:
                    break
                yield f
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return
            self.bytes_in += len(chunk)
            self.buf += chunk

    def _take(self):
        if not self.buf:
            return None
        try:
            n, pos = pb_decoder._DecodeVarint(bytes(self.buf[:10]), 0)
        except IndexError:
            if len(self.buf) >= 10:
                raise ValueError("length prefix is not a varint")
            return None  # the prefix itself is split: wait for more
        if n > self.MAX_FRAME:
            raise ValueError("length prefix %d over %d bytes" % (n, self.MAX_FRAME))
        if len(self.buf) < pos + n:
            return None
        body = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        return body


def connect(addr, timeout):
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
