"""``orchestra eval`` refuses what would waste or leak, before anything is spent or
discarded: a refused run keeps the earlier results (``--fresh`` discards only after the
confirmation), an unserved model or judge is one line, a rerun under another
``--max-tokens`` is refused; a bad key, URL, ``--out``, cap or simulator setting is one
``error:`` line (exit 2), never a traceback, and never echoes the key or a URL's password."""

from __future__ import annotations

import builtins
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.cli import _build_services, main
from orchestra.config import Settings, get_settings

from support.evaluation import simulated_gateway

SECRET = "sk-live-TOPSECRET123"


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield from simulated_gateway(monkeypatch)


def evaluate(out: Path, *extra: str, strategy: str = "sim-large") -> int:
    args = ["eval", "--dataset", "gsm8k", "--limit", "3", "--strategy", strategy]
    return main([*args, "--out", str(out), *extra])


def one_error(err: str) -> str:
    """The one ``error:`` line of ``err`` (and no traceback)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def rows(out: Path) -> int:
    path = out / "results.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_refused_fresh_run_keeps_the_earlier_results(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a finished run
    assert evaluate(tmp_path) == 0 and rows(tmp_path) == 3
    # When it is rerun --fresh under a cap below its estimate
    assert evaluate(tmp_path, "--fresh", "--max-cost", "0.0000001") == 3
    # Then it is refused and nothing was discarded
    assert "refused:" in capsys.readouterr().err
    assert rows(tmp_path) == 3 and (tmp_path / "run.json").exists()


def test_the_cap_holds_across_reruns_into_the_same_out(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run that spent something on these pairs
    assert evaluate(tmp_path) == 0
    capsys.readouterr()
    written = (tmp_path / "results.jsonl").read_text().splitlines()
    spent = sum(json.loads(x)["outcome"]["cost_usd"] for x in written)
    assert spent > 0
    # When another strategy is added under a cap smaller than what was already spent
    args = ("--strategy", "sim-small", "--max-cost", f"{spent / 2:.10f}")
    assert evaluate(tmp_path, *args) == 3
    # Then the earlier spend counts toward the cap
    err = capsys.readouterr().err
    assert "already spent on these pairs" in err and "refused:" in err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("--strategy", "panel(sim-large, nosuch-model)"), "model 'nosuch-model' is not served"),
        (("--judge", "nosuch-judge"), "--judge: model 'nosuch-judge' is not served"),
        (("--strategy", "panel(sim-large, sim-large)"), "'sim-large' is listed twice"),
        (("--max-cost", "nan"), "--max-cost must be at least 0"),
        (("--base-url", "http://[::1"), "--base-url is not a valid URL"),
    ],
)
def test_what_cannot_run_is_one_line_before_anything_is_written(
    tmp_path: Path,
    simulated: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    said: str,
) -> None:
    assert evaluate(tmp_path / "out", *extra) == 2
    assert said in one_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_rerun_with_another_max_tokens_is_refused(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(tmp_path) == 0
    assert evaluate(tmp_path, "--max-tokens", "512") == 2
    line = one_error(capsys.readouterr().err)
    assert "--max-tokens was 1024, now 512" in line and "--fresh" in line
    assert rows(tmp_path) == 3
    # nor with another --temperature: answers drawn hotter or colder do not compare
    assert evaluate(tmp_path, "--temperature", "0") == 2
    assert "--temperature was None, now 0.0" in one_error(capsys.readouterr().err)


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_out_that_cannot_be_a_directory_is_one_line(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    out = tmp_path / "a-file"
    out.write_text("x")
    assert evaluate(out if where == "file" else Path("/proc/orchestra-x")) == 2
    assert "cannot use --out" in one_error(capsys.readouterr().err)


def test_end_of_input_at_the_prompt_is_a_no(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def ctrl_d(prompt: str = "") -> str:
        raise EOFError

    simulated.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    simulated.setattr(builtins, "input", ctrl_d)
    assert evaluate(tmp_path, "--max-cost", "0.0000001") == 3
    err = capsys.readouterr().err
    assert "refused:" in err and "Traceback" not in err and rows(tmp_path) == 0


@pytest.mark.parametrize("accuracy", ["sim-large=1.5", "gpt-4o=0.5"])
def test_a_bad_simulator_accuracy_is_one_line(
    tmp_path: Path,
    simulated: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    accuracy: str,
) -> None:
    simulated.setenv("ORCHESTRA_SIMULATOR_ACCURACY", accuracy)
    get_settings.cache_clear()
    assert evaluate(tmp_path) == 2
    assert "ORCHESTRA_SIMULATOR_ACCURACY" in one_error(capsys.readouterr().err)


def test_a_missing_oracle_file_is_one_line_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(simulator=True, simulator_oracle=str(tmp_path / "none.jsonl"))
    assert _build_services(settings, environ={}) is None
    assert "ORCHESTRA_SIMULATOR_ORACLE" in one_error(capsys.readouterr().err)


def test_a_key_with_a_space_is_refused_without_echoing_it(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated.setenv("ORCHESTRA_API_KEY", f"{SECRET} oops")
    assert evaluate(tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "ORCHESTRA_API_KEY" in one_error(err) and SECRET not in err
    assert not (tmp_path / "out").exists()


def test_a_key_file_newline_is_stripped(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated.setenv("ORCHESTRA_API_KEYS", SECRET)
    simulated.setenv("ORCHESTRA_API_KEY", SECRET + "\r\n")
    get_settings.cache_clear()
    assert evaluate(tmp_path) == 0
    assert SECRET not in capsys.readouterr().err
    assert all(SECRET not in p.read_text() for p in tmp_path.iterdir() if p.is_file())


def test_an_unreachable_base_url_never_shows_its_password_nor_the_key(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as bound:  # a loopback port nobody listens on
        bound.bind(("127.0.0.1", 0))
        url = f"http://user:PW-SECRET@127.0.0.1:{bound.getsockname()[1]}"
        assert evaluate(tmp_path / "out", "--base-url", url, "--api-key", SECRET) == 2
    line = one_error(capsys.readouterr().err)
    assert "cannot reach the gateway at http://127.0.0.1:" in line
    assert "PW-SECRET" not in line and SECRET not in line
    assert not (tmp_path / "out").exists()


def test_eval_report_on_an_unparsable_strategy_is_one_line(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(tmp_path) == 0
    path = tmp_path / "results.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    line["strategy"] = "nosuch(kind)"
    path.write_text(path.read_text() + json.dumps(line) + "\n")
    capsys.readouterr()
    assert main(["eval", "report", "--out", str(tmp_path)]) == 2
    assert "unknown kind" in one_error(capsys.readouterr().err)
