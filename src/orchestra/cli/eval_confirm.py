"""``orchestra eval``'s terminal side: the estimate and the ``--max-cost`` confirmation before
anything is spent (or discarded), and the progress bar on stderr while the run goes."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra.evaluation.estimate import Estimate
    from orchestra.evaluation.runner import Progress


def confirmed(args: argparse.Namespace, estimate: Estimate, spent: float = 0.0) -> bool:
    """Print the estimate and what it assumed. Past ``--max-cost`` (counting ``spent``: what
    earlier runs into the same ``--out`` already spent on these pairs) or with models it could
    not price (the cap cannot hold on them), go on only with ``--yes`` or a "y" typed at a
    terminal (the run then stops at the cap)."""
    print(
        f"{estimate.describe()}\n  assumed: "
        f"{args.answer_tokens} completion tokens per answer (--answer-tokens), "
        f"{args.max_tokens} at most (--max-tokens); prompts counted from their text; "
        "prices from the gateway's GET /v1/models",
        file=sys.stderr,
    )
    if spent > 0:
        print(
            f"  already spent on these pairs: ${spent:.4f} (counts toward --max-cost)",
            file=sys.stderr,
        )
    if args.max_cost is None:
        return True
    if estimate.unpriced:
        return _dare(
            args,
            f"--max-cost cannot hold on models without a price ({', '.join(estimate.unpriced)})",
            "their calls count as free",
        )
    if spent + estimate.total_usd <= args.max_cost:
        return True
    total = f"${estimate.total_usd:.4f}" + (f" + ${spent:.4f} already spent" if spent else "")
    over = f"the estimate {total} exceeds --max-cost ${args.max_cost:g}"
    return _dare(args, over, "the run stops at the cap")


def _dare(args: argparse.Namespace, over: str, then: str) -> bool:
    """Go on past a reason to stop (``then``: what happens if so): with ``--yes``, or a "y"
    typed at a terminal (end of input, Ctrl-D, is a no)."""
    if args.yes:
        print(f"{over}: running anyway, {then} (--yes)", file=sys.stderr)
        return True
    if sys.stdin.isatty():
        try:
            answer = input(f"{over}: run anyway ({then})? [y/N] ")
        except EOFError:
            answer = ""
            print(file=sys.stderr)
        if answer.strip().lower() in ("y", "yes"):
            return True
    print(f"refused: {over} (--yes to run anyway: {then})", file=sys.stderr)
    return False


class ProgressBar:
    """On a terminal, one line rewritten in place; elsewhere (CI logs) a line per 10%."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.shown = -1

    def __call__(self, progress: Progress) -> None:
        if self.tty:
            self.stream.write("\r" + progress_line(progress))
            self.stream.flush()
            return
        tenth = progress.done * 10 // max(progress.total, 1)
        if tenth > self.shown:
            self.shown = tenth
            print(progress_line(progress), file=self.stream)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def progress_line(progress: Progress) -> str:
    """``[######----] 150/250 pairs  accuracy 81.3%  spent $0.0123  errors 2``"""
    filled = progress.done * 20 // max(progress.total, 1)
    accuracy = "-" if progress.accuracy is None else f"{progress.accuracy:.1%}"
    errors = f"  errors {progress.errors}" if progress.errors else ""
    return (
        f"[{'#' * filled}{'-' * (20 - filled)}] {progress.done}/{progress.total} pairs  "
        f"accuracy {accuracy}  spent ${progress.spent:.4f}{errors}"
    )
