"""`stream-guard COMMAND --help` explains every argument: README.md sends newcomers there for the options."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from stream_guard.cli.main import build_parser, main


def commands(parser: argparse.ArgumentParser, path: str = "stream-guard") -> Iterator[tuple[str,
                                                                                           argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def test_every_argument_of_every_command_has_a_help_text() -> None:
    unexplained = [f"{path} {action.option_strings[0] if action.option_strings else action.metavar}"
                   for path, parser in commands(build_parser()) for action in parser._actions
                   if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert unexplained == []


def test_the_demo_and_worker_options_a_newcomer_meets_first_say_what_they_do() -> None:
    helps = {f"{path} {a.option_strings[0] if a.option_strings else a.metavar}": a.help
             for path, parser in commands(build_parser()) for a in parser._actions}
    assert helps["stream-guard demo --events-per-window"] == "events produced per one-minute window (default 1200)"
    assert helps["stream-guard produce EVENTS"] == \
        "one JSON event per line (.jsonl or .jsonl.gz), e.g. what demo --events-out wrote"
    assert helps["stream-guard reference show NAME"] == "the snapshot's name, as `reference list` shows it"


@pytest.mark.parametrize("group", ["local", "alerts", "reference"])
def test_a_command_group_without_its_action_prints_its_own_help(group: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([group]) == 2
    assert capsys.readouterr().out.startswith(f"usage: stream-guard {group} [-h] ACTION ...\n")
