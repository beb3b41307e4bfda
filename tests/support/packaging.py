"""Packaging tests' shared pieces: the repository, the Lambda runtime's Python, file lists."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "3.12"


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
