from pathlib import Path

from auth.permissions import permission_matrix_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_given_permission_matrix_then_readme_shows_exactly_it():
    """The README's matrix is generated from auth/permissions.py; this keeps them equal."""
    assert permission_matrix_markdown().strip() in README.read_text()
