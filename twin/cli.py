"""The ``twin`` command: a thin layer over the library; the only place that prints.

Errors a user can cause (:class:`twin._errors.TwinError`) print a message without a traceback and
exit with code 2 (3 for an edit conflict).
"""

from __future__ import annotations

import sys
import warnings

import click

from twin import __version__

# command modules register here: (module path, attribute)
_COMMANDS = [
    ("twin.commands.layers", "init"),
    ("twin.commands.layers", "layers"),
    ("twin.commands.edit", "layers"),      # adds edit/log/diff/revert/checkout to `layers`
    ("twin.commands.sim", "simulate"),
    ("twin.commands.sim", "assign"),
    ("twin.commands.scenarios", "check"),
    ("twin.commands.scenarios", "run"),
    ("twin.commands.scenarios", "compare"),
    ("twin.commands.scenarios", "demo"),
    ("twin.commands.utilities", "utilities"),
    ("twin.commands.views", "view"),
    ("twin.commands.views", "report"),
    ("twin.commands.services", "services"),
    ("twin.commands.services", "warn"),
    ("twin.commands.services", "sensors"),
    ("twin.commands.services", "calibrate"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="twin")
def cli() -> None:
    """twin: an urban-planning digital twin.

    \b
    Start here:
      twin demo                          build the demo twin, run the example scenarios
      twin init --demo demo.twin.gpkg    build a twin of central Helsinki (real OSM data)
      twin layers list demo.twin.gpkg    what is in it
    """


def _register() -> None:
    import importlib

    for module, attr in _COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        cmd = getattr(mod, attr, None)
        if cmd is not None:
            cli.add_command(cmd)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    from twin._errors import TwinError

    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        rv = cli.main(args=argv, prog_name="twin", standalone_mode=False)
    except TwinError as err:
        click.echo(f"error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return int(rv or 0) if isinstance(rv, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
