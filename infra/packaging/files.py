"""Walking, copying and normalising trees: sorted, deterministic, cache-free."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from infra.packaging.model import FIXED_MTIME, IGNORED_DIRS, IGNORED_SUFFIXES


def tree_digest(root: Path) -> str:
    """sha256 over every path (sorted), its mode and its contents."""
    digest = hashlib.sha256()
    for path in walk(root):
        rel = path.relative_to(root).as_posix()
        mode = path.lstat().st_mode
        digest.update(f"{rel}\0{stat.S_IMODE(mode):o}\0".encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def walk(root: Path) -> Iterator[Path]:
    """Every path under ``root`` (not following symlinks), sorted, parents first."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from walk(entry)


def _ignored(path: Path) -> bool:
    return path.name in IGNORED_DIRS or path.name.endswith(IGNORED_SUFFIXES)


def walk_sources(root: Path) -> Iterator[Path]:
    """Files under ``root``, sorted, skipping caches and build leftovers."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if _ignored(entry):
            continue
        if entry.is_dir():
            yield from walk_sources(entry)
        elif entry.is_file():
            yield entry


def copy_sources(source: Path, target: Path) -> None:
    shutil.copytree(
        source, target, ignore=lambda _d, names: [n for n in names if _ignored(Path(n))]
    )


def copy_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    normalize_mtimes(target)


def move_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        shutil.move(entry, target / entry.name)
    normalize_mtimes(target)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def remove_empty_dirs(root: Path) -> None:
    for path in reversed(list(walk(root))):
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def normalize_modes(root: Path) -> None:
    """rwxr-xr-x directories, rw-r--r-- files (rwxr-xr-x if executable): Lambda's user reads all."""
    for path in walk(root):
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def normalize_mtimes(root: Path) -> None:
    for path in reversed([root, *walk(root)]):  # children first: a dir's mtime last
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
