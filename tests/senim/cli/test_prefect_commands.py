"""``senim prefect setup`` on bad input: one line naming the problem, a non-zero exit,
nothing created. (Against a real server: tests/flows/test_prefect_workers.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.senim.cli.cli_runner import run_senim

REPO = Path(__file__).resolve().parents[3]


def _api(url: str | None):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: url})


def test_given_no_prefect_server_configured_when_setup_then_it_says_to_set_the_api_url(capsys):
    with _api(None):
        code, _, err = run_senim(
            ["prefect", "setup", "--prefect-yaml", str(REPO / "prefect.yaml")], capsys
        )

    assert code != 0
    assert "PREFECT_API_URL is not set" in err


def test_given_an_unreachable_server_when_setup_then_the_error_names_it(capsys):
    from tests.serving.credit_server import free_port

    url = f"http://127.0.0.1:{free_port()}/api"
    with _api(url):
        code, _, err = run_senim(
            ["prefect", "setup", "--prefect-yaml", str(REPO / "prefect.yaml")], capsys
        )

    assert code != 0
    assert f"the Prefect server at {url} refused the setup" in err
    assert "Traceback" not in err


def test_given_params_and_prefect_yaml_disagree_when_setup_then_nothing_is_contacted(
    capsys, tmp_path
):
    params = tmp_path / "params.yaml"
    params.write_text(
        (REPO / "params.yaml").read_text().replace("heartbeat_seconds: 60", "heartbeat_seconds: 30")
    )

    with _api("http://127.0.0.1:9/api"):
        code, _, err = run_senim(
            [
                "prefect",
                "setup",
                "--params",
                str(params),
                "--prefect-yaml",
                str(REPO / "prefect.yaml"),
            ],
            capsys,
        )

    assert code != 0
    assert "orchestration.heartbeat_seconds is 30" in err and "retrain-credit-weekly (60)" in err
    assert "refused the setup" not in err
