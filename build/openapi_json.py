"""Write the JSON copy of spec/openapi.yaml that the server serves at /api/openapi.json.

Run after editing the YAML: `python build/openapi_json.py`. The server reads the copy (so it needs
no YAML parser), and tests/server/test_openapi.py fails while the copy differs from the YAML.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "spec" / "openapi.yaml"
COPY = ROOT / "messenger" / "server" / "http" / "openapi.json"


def document() -> dict:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def main() -> None:
    COPY.write_text(json.dumps(document(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {COPY.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
