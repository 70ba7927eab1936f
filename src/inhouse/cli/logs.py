"""Operator logs: the level of the `inhouse` logger and its one handler on stderr, set once per command.

Logs are for operators (what was loaded, skipped or refused, and how long it took); the commands' own
output stays as it is, and stdout carries only that output (`--json` stays parseable). Library modules
only call `logging.getLogger(__name__)`: handlers and levels are the application's business, set here,
and for uvicorn's loggers by `uvicorn_config`, so both agree.
"""

from __future__ import annotations

import logging
import sys

from inhouse.config import load_settings
from inhouse.errors import InHouseError, InputError

LEVELS = ("debug", "info", "warning", "error")
DEFAULT = "warning"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes: the proxy a progress bar puts there (so a
    log line is printed above the bar, not through it), or a test's capture."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # StreamHandler's __init__ would pin the stream it was given
        self.setFormatter(logging.Formatter(FORMAT))

    @property
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr


def level_from_settings() -> str:
    """The `log_level` setting (config.toml or INHOUSE_LOG_LEVEL), checked; `warning` when the config
    cannot be read (the command that reads the settings reports that error itself)."""
    try:
        value = load_settings().log_level.strip().lower()
    except InHouseError:
        return DEFAULT
    if value not in LEVELS:
        raise InputError(f"setting log_level={value!r} is not a valid level; use one of: {', '.join(LEVELS)}.")
    return value


def configure(level: str) -> None:
    """Send the `inhouse` logger's records at `level` and above to stderr. Called again (several
    commands in one process, as tests run them), it replaces its handler rather than adding one."""
    logger = logging.getLogger("inhouse")
    for h in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(h)
    logger.addHandler(StderrHandler())
    logger.setLevel(level.upper())


def current() -> str:
    """The level the `inhouse` logger runs at now, as `--log-level` names it."""
    return logging.getLevelName(logging.getLogger("inhouse").getEffectiveLevel()).lower()


def uvicorn_config(level: str) -> dict:
    """uvicorn's logging config: its loggers at `level`, on stderr in the same format. (uvicorn's own
    default sends the access log to stdout, where `serve --json` prints the address.)"""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": StderrHandler}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
