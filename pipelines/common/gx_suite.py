"""Run a Great Expectations suite on a DataFrame, the one way both families do it.

GX runs in an ephemeral, in-memory context, so validating never scaffolds a ``gx/``
project in the working directory; the only files written are the optional Data Docs.
GX takes seconds to import, so it is imported inside the functions that need it. Each
family builds its own suite and turns a failed result into an ``ExpectationFailure``
(what the failure is about differs); the running, ordering and wording live here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationValidationResult

EXAMPLES = 5  # unexpected values kept per failed expectation


@dataclass(frozen=True)
class ExpectationFailure:
    """One failed expectation.

    ``unexpected_count`` is the number of rows the failure is about: offending rows for row
    checks, the observed count for table checks (rows in the table or a band, duplicate
    rows). ``examples`` are ``(row, value)`` pairs, row None where GX gives no row number.
    ``problem`` is the short phrase the one-line summary uses, e.g. ``2 unknown labels``.
    """

    expectation: str
    column: str | None
    unexpected_count: int
    examples: list[tuple[int | None, Any]]
    description: str
    problem: str = ""

    def brief(self) -> str:
        """``Rating: 2 unknown labels ['AAX', 'Q']``: what the summary says about this failure."""
        plain_values = (plain(value) for _, value in self.examples)
        values = list(dict.fromkeys(value for value in plain_values if value is not None))
        shown = f" {values[:3]!r}" if values else ""
        return f"{self.column or 'table'}: {self.problem or self.description}{shown}"

    def line(self) -> str:
        """The report's line: column, problem, description, expectation and examples."""
        examples = ", ".join(
            repr(plain(value)) if row is None else f"row {row}: {plain(value)!r}"
            for row, value in self.examples
        )
        return (
            f"- {self.column or 'table'}: {self.problem}; {self.description} "
            f"[{self.expectation}]" + (f" e.g. {examples}" if examples else "")
        )


@dataclass(frozen=True)
class SuiteRun:
    """What a suite run says: overall success, how many expectations ran, the failed
    results in the suite's own order, and the Data Docs index when one was built."""

    success: bool
    evaluated: int
    failed: list[ExpectationValidationResult]
    docs_path: Path | None


def run_suite(
    frame: pd.DataFrame,
    suite: ExpectationSuite,
    *,
    source: str,
    asset: str,
    docs_dir: Path | None = None,
) -> SuiteRun:
    """Validate ``frame`` (the whole frame is one batch) against ``suite``; with
    ``docs_dir`` also build the Data Docs site there."""
    import great_expectations as gx

    context = ephemeral_context(docs_dir, site=source)
    suite = context.suites.add(suite)
    batch = (
        context.data_sources.add_pandas(source)
        .add_dataframe_asset(asset)
        .add_batch_definition_whole_dataframe("all rows")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    outcome = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
    )
    docs_path = None
    if docs_dir is not None:
        context.build_data_docs()
        docs_path = Path(docs_dir) / "index.html"
    order = {expectation.id: position for position, expectation in enumerate(suite.expectations)}
    failed = sorted(
        (result for result in outcome.results if not result.success),
        key=lambda result: order.get(result.expectation_config.id, len(order)),
    )
    return SuiteRun(
        success=bool(outcome.success),
        evaluated=int(outcome.statistics["evaluated_expectations"]),
        failed=failed,
        docs_path=docs_path,
    )


def ephemeral_context(docs_dir: Path | None = None, *, site: str = "local") -> Any:
    """In-memory stores, no analytics, no progress bars, no default temp docs site; a
    local Data Docs site in ``docs_dir`` only when asked for."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites[site] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(docs_dir).resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def exception_message(info: dict) -> str | None:
    """The error a result raised, if any: GX reports it flat or keyed by the metric."""
    reports = [info, *(value for value in info.values() if isinstance(value, dict))]
    for report in reports:
        if report.get("raised_exception"):
            message = str(report.get("exception_message") or "error").strip()
            return message.splitlines()[-1] if message else "error"
    return None


def unexpected_examples(details: dict) -> list[tuple[int | None, Any]]:
    """``(row, value)`` pairs of a row check's unexpected values, at most ``EXAMPLES``."""
    values = details.get("partial_unexpected_list") or []
    rows = details.get("partial_unexpected_index_list") or [None] * len(values)
    pairs = zip(rows, values, strict=False)
    return [(None if row is None else int(row), value) for row, value in pairs][:EXAMPLES]


def plain(value: Any) -> Any:
    """NaN and numpy scalars as plain Python values, so reprs read naturally."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def bounds_text(low: float | None, high: float | None, *, percent: bool = False) -> str:
    """``between 0 and 1``, ``>= 5``, ``<= 2.00%``: an expectation's bounds in words."""

    def show(value: float) -> str:
        return f"{value:.2%}" if percent else f"{value:g}"

    if low is None:
        return f"<= {show(high)}"
    if high is None:
        return f">= {show(low)}"
    return f"between {show(low)} and {show(high)}"
