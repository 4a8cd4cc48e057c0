"""Project exceptions: every user-facing failure is one of these.

A message names the file, the field, what was expected and what was got, so the
user can fix the input without reading a traceback (the CLI prints only the message
unless ``--debug`` is given).
"""

from __future__ import annotations

from pathlib import Path


class MssfeError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(MssfeError):
    """Bad or missing input data: a file, a field in it, or its content."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        expected: object = None,
        got: object = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.field = field
        self.expected = expected
        self.got = got
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}")
        if field is not None:
            parts.append(f"field '{field}'")
        head = ": ".join(parts)
        detail = message
        if expected is not None or got is not None:
            detail += f" (expected {expected}, got {got})"
        super().__init__(f"{head}: {detail}" if head else detail)


class EstimatorInputError(DataError, ValueError):
    """Bad ``X`` or ``y`` given to a scikit-learn estimator of this package: a project error
    for mssfe's callers and a ``ValueError`` for scikit-learn's (``check_estimator``,
    ``cross_val_score``)."""


class DatasetNotFoundError(DataError):
    """A scene file is neither on disk nor downloadable."""


class ChecksumError(DataError):
    """A file's bytes do not match the registry's size or SHA-256."""


class ConfigError(MssfeError):
    """An unknown name, a wrong type or conflicting options in a configuration.

    ``field`` is the option as its source names it (``optim.lr``, ``--lr``); ``file`` the
    config file it came from, if any. :meth:`renamed` gives the same error under another
    name, so the command line can report the option a user typed instead of the config field.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: str | Path | None = None,
        field: str | None = None,
        expected: object = None,
        got: object = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        self.expected = expected
        self.got = got
        head = ": ".join(part for part in (self.file, field) if part)
        detail = message
        if expected is not None or got is not None:
            detail += ("; " if detail else "") + f"expected {expected}, got {got}"
        super().__init__(f"{head}: {detail}" if head else detail)

    def renamed(self, field: str | None, *, file: str | Path | None = None) -> ConfigError:
        """The same error about ``field`` (and ``file``) instead of the original names."""
        return ConfigError(
            self.message, file=file, field=field, expected=self.expected, got=self.got
        )


class CheckpointError(MssfeError):
    """A checkpoint that is corrupt, foreign or incompatible with the run."""
