"""Run `kgx` commands in tests through typer's CliRunner and check how they ended."""

from __future__ import annotations


def invoke(runner, *args: str) -> str:
    """The output of `kgx ARGS`, which must succeed."""
    from kgx.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def fails(runner, *args: str) -> BaseException:
    """The exception `kgx ARGS` ended with; it must fail."""
    from kgx.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code != 0
    return result.exception
