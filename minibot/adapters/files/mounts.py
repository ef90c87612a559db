"""Refuse network file systems, where file locks and fsync do not keep their promises."""

from __future__ import annotations

import os
from pathlib import Path

from minibot.core.errors import StoreError

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smbfs",
        "smb3",
        "9p",
        "afs",
        "ncpfs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.davfs",
    }
)


def _unescape(field: str) -> str:
    # /proc/mounts writes spaces, tabs and backslashes in paths as octal escapes.
    return field.encode().decode("unicode_escape") if "\\" in field else field


def filesystem_type(path: Path, mounts_text: str) -> str | None:
    """The type of the file system holding `path`, from /proc/mounts text (None if unknown)."""
    target = os.path.realpath(path)
    best_mount, best_type = "", None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = _unescape(fields[1])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        # Later lines win a tie: a mount stacked on the same point hides the earlier one.
        if inside and len(mount_point) >= len(best_mount):
            best_mount, best_type = mount_point, fields[2]
    return best_type


def ensure_local_filesystem(path: Path, mounts_path: str = "/proc/mounts") -> None:
    """Raise StoreError naming `path` if it lives on a network file system."""
    try:
        with open(mounts_path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return  # not Linux, or /proc not mounted: nothing to check against
    fs_type = filesystem_type(path, text)
    if fs_type is not None and (
        fs_type in NETWORK_FILESYSTEMS or fs_type.split(".")[0] in NETWORK_FILESYSTEMS
    ):
        raise StoreError(
            f"job store {path} is on a {fs_type} network file system, where file locks "
            "and fsync are not reliable; put scheduler.store_path on a local disk"
        )
