"""Print poetry.lock as a pip requirements file with hashes.

Installing with pip from the lock (pinned versions, checked hashes) needs nothing but
python3 and pip on a fresh machine, and works where Poetry's own installer cannot reach
the registry's JSON API. Usage: python scripts/lock_requirements.py [--no-dev]
"""

import sys
import tomllib
from pathlib import Path

lock = tomllib.loads((Path(__file__).resolve().parent.parent / "poetry.lock").read_text())
include_dev = "--no-dev" not in sys.argv[1:]
for package in lock["package"]:
    groups = package.get("groups", ["main"])
    if not include_dev and "main" not in groups:
        continue
    line = f"{package['name']}=={package['version']}"
    markers = package.get("markers")
    if isinstance(markers, dict):
        wanted = [m for g, m in markers.items() if g in groups and (include_dev or g == "main")]
        markers = " or ".join(f"({m})" for m in wanted) if wanted else None
    if markers:
        line += f" ; {markers}"
    hashes = " ".join(f"--hash={f['hash']}" for f in package["files"])
    print(f"{line} {hashes}")
