"""Benchmark: the retrain-credit flow on a real CSV, every candidate next to the thesis
baseline under company-grouped CV, plus the wall time of `senim run` on the embedded
defaults. Writes a Markdown report (with machine info) to bench/out/ and, with
--write-docs, into docs/BENCHMARKS.md.

    uv run python bench/credit_quality.py \
        --csv ../shared/data/corporate_rating/corporate_rating_dev.csv --time-senim-run --write-docs
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "corporate_rating" / "corporate_rating_dev.csv"
MARKER = "<!-- credit_quality -->"


def machine_info() -> str:
    import numpy
    import sklearn
    import xgboost

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()} · {cpu} · {os.cpu_count()} cores · {memory:.0f} GiB · "
        f"Python {platform.python_version()} · scikit-learn {sklearn.__version__} · "
        f"xgboost {xgboost.__version__} · numpy {numpy.__version__}"
    )


def run_flow_on_csv(csv: Path, home: Path) -> tuple[str, float, object]:
    env_before = dict(os.environ)
    workspace = home / "workspace"  # keeps the repository's data/ untouched
    workspace.mkdir(parents=True)
    (workspace / "params.yaml").write_text((REPO / "params.yaml").read_text())
    os.environ["SENIM_HOME"] = str(home)
    os.environ["SENIM_WORKSPACE"] = str(workspace)
    try:
        from senim.environment import prepare_home, resolve_stores

        prepare_home(resolve_stores())
        from flows.retrain_credit import retrain_credit

        started = time.perf_counter()
        summary = retrain_credit(data_csv=str(csv), reports_dir=str(home / "report"))
        return summary.comparison_csv, time.perf_counter() - started, summary
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def time_senim_run() -> float:
    with tempfile.TemporaryDirectory(prefix="senim-bench-") as home:
        workspace = Path(home) / "workspace"
        workspace.mkdir()
        (workspace / "params.yaml").write_text((REPO / "params.yaml").read_text())
        env = {**os.environ, "SENIM_HOME": home, "SENIM_WORKSPACE": str(workspace)}
        senim = Path(sys.executable).with_name("senim")
        started = time.perf_counter()
        subprocess.run([str(senim), "run"], cwd=workspace, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def report(
    csv: Path, comparison_csv: str, seconds: float, summary, run_seconds: float | None
) -> str:
    import pandas as pd

    from pipelines.credit.reports import markdown_table

    table = pd.read_csv(comparison_csv, index_col="model")
    columns = [
        "macro_f1",
        "cv_macro_f1_std",
        "balanced_accuracy",
        "accuracy",
        "roc_auc_ovr",
        "log_loss",
        "mean_abs_band_error",
        "within_one_band_accuracy",
        "seconds",
        "beats_baseline",
    ]
    table = table[[c for c in columns if c in table.columns]]
    best = table.drop(index="thesis_baseline", errors="ignore")["macro_f1"].max()
    baseline = (
        table.loc["thesis_baseline", "macro_f1"] if "thesis_baseline" in table.index else None
    )
    verdict = (
        "n/a"
        if baseline is None
        else f"{'MET' if best > baseline else 'NOT MET'}: "
        f"best {best:.4f} vs thesis baseline {baseline:.4f}"
    )
    lines = [
        MARKER,
        f"## Credit models on `{csv.name}` (company-grouped CV)",
        "",
        f"- Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine_info()}",
        f"- Data version (md5): `{summary.data_version}`; params: the repository's `params.yaml`",
        f"- Retraining flow wall time (ingest → validate → tune 4 families + baseline → "
        f"register): {seconds:.0f} s",
        f"- Target: best model beats the thesis baseline's macro-F1 — {verdict} "
        f"(fold-to-fold std of macro-F1 is in the table: read small margins with it)",
        f"- Registered version {summary.registered_version}; gate decision: {summary.decision} "
        f"({'; '.join(summary.decision_reasons)})",
    ]
    if run_seconds is not None:
        lines.append(
            f"- `senim run` on the embedded defaults (fresh SENIM_HOME, synthetic data): "
            f"{run_seconds:.0f} s — target < 300 s: {'MET' if run_seconds < 300 else 'NOT MET'}"
        )
    lines += ["", markdown_table(table, floatfmt=".4f"), "", MARKER]
    return "\n".join(lines) + "\n"


def write_docs_section(section: str, marker: str = MARKER) -> None:
    """Replace the section between ``marker`` lines in docs/BENCHMARKS.md (or append it)."""
    path = REPO / "docs" / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if marker in text:
        head, _, rest = text.partition(marker)
        _, _, tail = rest.partition(marker)
        text = head + section.strip() + tail
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--time-senim-run", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if not args.csv.is_file():
        sys.exit(f"benchmark data not found: {args.csv} (pass --csv)")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="senim-bench-") as home:
        comparison_csv, seconds, summary = run_flow_on_csv(args.csv.resolve(), Path(home))
        run_seconds = time_senim_run() if args.time_senim_run else None
        section = report(args.csv, comparison_csv, seconds, summary, run_seconds)
    (out / "credit_quality.md").write_text(section)
    print(section)
    if args.write_docs:
        write_docs_section(section)


if __name__ == "__main__":
    main()
