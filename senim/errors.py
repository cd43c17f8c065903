"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class SenimError(Exception):
    """Base class: the message alone must tell the user what is wrong and where."""

    exit_code = 1


class ConfigError(SenimError):
    """``params.yaml`` or an environment variable is invalid."""

    exit_code = 2


class DataError(SenimError):
    """Input data cannot be read or does not fit the schema (file, row, column named)."""

    exit_code = 3


class DataValidationError(DataError):
    """The Great Expectations suite failed; ``report`` holds the readable summary."""

    def __init__(self, message: str, report: str = "") -> None:
        super().__init__(message)
        self.report = report


class StoreUnreachableError(SenimError):
    """A database, tracking server or DVC remote could not be reached."""

    exit_code = 4


class RegistryError(SenimError):
    """The model registry is missing a model, version or alias the command needs."""

    exit_code = 5
