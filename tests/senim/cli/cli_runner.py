"""Run the `senim` CLI in-process, as a user would, and capture what it says."""

from __future__ import annotations

import io

import pytest


def run_senim(args: list[str], capsys, monkeypatch=None, stdin: str = "") -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``senim ARGS``; ``stdin`` feeds its prompts."""
    from senim.cli.app import main

    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err
