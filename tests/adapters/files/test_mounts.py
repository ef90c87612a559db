"""Finding the file system that holds a path, from /proc/mounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minibot.adapters.files.mounts import ensure_local_filesystem, filesystem_type
from minibot.core.errors import StoreError

MOUNTS = """\
/dev/vda / ext4 rw 0 0
server:/home /home nfs4 rw 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
tmpfs /home/user/fast tmpfs rw 0 0
host:/ /mnt/ssh fuse.sshfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/lib/minibot", "ext4"),
        ("/home/user/data", "nfs4"),
        ("/home/user/fast/tasks", "tmpfs"),
        ("/home/username", "nfs4"),  # /home/user is not a prefix of /home/username
        ("/mnt/my share/tasks", "cifs"),
        ("/mnt/ssh/x", "fuse.sshfs"),
    ],
)
def test_the_longest_mount_point_wins(path: str, expected: str) -> None:
    assert filesystem_type(Path(path), MOUNTS) == expected


def test_a_local_disk_passes_and_a_network_one_is_named(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    ensure_local_filesystem(Path("/var/lib/minibot"), str(mounts))
    with pytest.raises(StoreError, match=re.escape("/mnt/ssh/tasks is on a fuse.sshfs network")):
        ensure_local_filesystem(Path("/mnt/ssh/tasks"), str(mounts))


def test_a_missing_mount_table_is_not_an_error(tmp_path: Path) -> None:
    ensure_local_filesystem(tmp_path, str(tmp_path / "absent"))
