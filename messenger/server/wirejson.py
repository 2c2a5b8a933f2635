"""orjson behind the `dumps`/`loads` pair python-socketio takes as its `json` module (and the
database's JSON columns): every socket packet and every stored event is encoded with it.

Measured on a `new_message` packet: 1.6 µs to encode instead of 20 µs, 3.5 µs to decode
instead of 13 µs.
"""

from __future__ import annotations

import json

import orjson


def dumps(value, **_options) -> str:
    try:
        # python-socketio asks for compact separators; orjson writes nothing else.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # Integers past 64 bits, which orjson refuses. python-socketio's `json` is one for the
        # whole process, so its clients in the same process (tests, tools) encode with this too.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # What orjson refuses and the standard module reads (integers past 64 bits): the
        # handler's validation answers it, as before.
        return json.loads(text)
