"""Regenerate poetry.lock where the registry's JSON API is unreachable.

Poetry resolves PyPI packages through the JSON API; some sandboxes only serve the
simple index. This locks through a temporary simple-index source named on the command
line, then removes that source from the lock and restores the content hash, so the
committed lock reads as an ordinary PyPI lock.
Usage: .tools/poetry/bin/python scripts/relock.py SIMPLE_INDEX_URL
"""

import re
import subprocess
import sys
from pathlib import Path

from poetry.factory import Factory

root = Path(__file__).resolve().parent.parent
pyproject = root / "pyproject.toml"
lock = root / "poetry.lock"
original = pyproject.read_text()
source = f'\n[[tool.poetry.source]]\nname = "simple"\nurl = "{sys.argv[1]}"\npriority = "primary"\n'
try:
    lock.unlink(missing_ok=True)
    pyproject.write_text(original + source)
    subprocess.run([sys.executable, "-m", "poetry", "lock"], cwd=root, check=True)
finally:
    pyproject.write_text(original)
text = re.sub(
    r'\n\[package\.source\]\ntype = "legacy"\nurl = "[^"]*"\nreference = "simple"\n',
    "\n",
    lock.read_text(),
)
content_hash = Factory().create_poetry(root).locker._get_content_hash()
text = re.sub(r'content-hash = "[0-9a-f]+"', f'content-hash = "{content_hash}"', text)
lock.write_text(text)
print("poetry.lock written")
