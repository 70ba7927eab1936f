"""Entry point of the `inhouse` command. Domain errors become one-line messages, never tracebacks.

The global `--log-level` (or INHOUSE_LOG_LEVEL, or the `log_level` setting) sets the operator logs on
stderr before the command runs (inhouse.cli.logs).
"""

from __future__ import annotations

import sys

import click

from inhouse import __version__
from inhouse.cli.analytics import analytics
from inhouse.cli.answer import ask, models
from inhouse.cli.commerce import commerce
from inhouse.cli.consortium import consortium
from inhouse.cli.evals import eval_group
from inhouse.cli.guard import doctor, pii, redteam
from inhouse.cli.kb import docs, embed, ingest, search, status, store_group
from inhouse.cli.logs import LEVELS, configure, level_from_settings
from inhouse.cli.recs import recs
from inhouse.cli.server import audit, keys, serve
from inhouse.cli.tune import tune
from inhouse.errors import InHouseError
from inhouse.guard import egress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inhouse")
@click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False), envvar="INHOUSE_LOG_LEVEL",
              show_envvar=True, default=None,
              help="operator logs on stderr from this level up  [default: the log_level setting, warning]")
def cli(log_level: str | None) -> None:
    """InHouse: private, grounded answers over your own documents."""
    configure(log_level or level_from_settings())


for command in (ingest, search, docs, status, embed, ask, models, recs, pii, doctor, redteam, serve, keys, audit,
                eval_group, tune, commerce, consortium, analytics, store_group):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    egress.install_default()
    try:
        # Without standalone mode click returns an Exit's code instead of calling sys.exit.
        rv = cli.main(args=argv, prog_name="inhouse", standalone_mode=False)
    except InHouseError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
