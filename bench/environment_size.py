"""What a new user downloads: the wheels `uv sync --frozen --all-extras` fetches from
`uv.lock` for this machine, largest first, and what the environment holds on disk.

    .venv/bin/python bench/environment_size.py [--write-docs]

The download is read from the lock (each package's wheel for this Python and platform,
the size the index declared), so it needs no network and no fresh install.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MARKER = "<!-- environment_size -->"


def wheel_for_this_machine(package: dict) -> dict | None:
    """The lock's wheel that pip/uv would pick here (best-ranked compatible tag)."""
    ranking = {tag: rank for rank, tag in enumerate(sys_tags())}
    best: tuple[int, dict] | None = None
    for wheel in package.get("wheels", []):
        filename = wheel["url"].rsplit("/", 1)[-1]
        _, _, _, tags = parse_wheel_filename(filename)
        rank = min((ranking[t] for t in tags if t in ranking), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, wheel)
    return best[1] if best else None


def download_sizes(lock_path: Path, installed: set[str]) -> list[tuple[str, str, int]]:
    """``(name, version, bytes)`` for each installed package's wheel in ``lock_path``."""
    lock = tomllib.loads(lock_path.read_text())
    rows = []
    for package in lock["package"]:
        name = canonicalize_name(package["name"])
        if name not in installed or "wheels" not in package:
            continue
        wheel = wheel_for_this_machine(package)
        if wheel is not None:
            rows.append((package["name"], package["version"], int(wheel.get("size", 0))))
    return sorted(rows, key=lambda row: -row[2])


def installed_here() -> set[str]:
    return {canonicalize_name(d.metadata["Name"]) for d in distributions()}


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def report(lock_path: Path, top: int = 12) -> str:
    rows = download_sizes(lock_path, installed_here())
    total = sum(size for *_, size in rows)
    venv = Path(sys.prefix)
    lines = [
        f"- Lock: `{lock_path.name}`; {len(rows)} wheels for this machine, "
        f"**{total / 2**20:,.0f} MiB to download**; "
        f"the environment on disk: {folder_bytes(venv) / 2**30:.2f} GiB",
        "",
        "| package | version | download MiB |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {name} | {version} | {size / 2**20:,.1f} |" for name, version, size in rows[:top]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    from bench.credit_quality import machine_info, write_docs_section

    body = report(ROOT / "uv.lock")
    text = (
        f"{MARKER}\n## What a new user downloads\n\n"
        f"`.venv/bin/python bench/environment_size.py --write-docs`\n\n"
        f"- Measured on: {machine_info()}\n{body}\n\n{MARKER}\n"
    )
    print(text)
    if args.write_docs:
        write_docs_section(text, MARKER)


if __name__ == "__main__":
    main()
