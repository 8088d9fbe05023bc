"""The README is a newcomer's first page: every `hcml` command line it shows must name commands and options
that exist, and every script, doc page and benchmark it points to must be there.

The commands are resolved through the real click groups (no process per command); each option the README
writes (`--format`, `--patient-id`, ...) must be one the resolved command declares. A renamed option or a
dropped command fails here instead of in a newcomer's shell.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from hcml.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SPANS = [s.replace("\\|", "|") for s in re.findall(r"`([^`\n]+)`", README)]


def _hcml_command_lines() -> list[str]:
    """The text after `hcml` of every command line in a code span (also inside `$(...)`)."""
    lines = []
    for span in SPANS:
        for m in re.finditer(r"(?:^|\.venv/bin/|\$\()hcml\s+([^)`;]+)", span):
            lines.append(m.group(1).strip())
    return lines


def _resolve(words: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """Walk the sub-commands named by the leading words; returns the command, its path and the rest."""
    cmd: click.Command = main
    path: list[str] = []
    rest = list(words)
    while rest and isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=" ".join(["hcml", *path]))
        sub = cmd.get_command(ctx, rest[0])
        if sub is None:
            break
        cmd, path = sub, [*path, rest.pop(0)]
    return cmd, path, rest


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


COMMAND_LINES = _hcml_command_lines()


def test_the_readme_shows_hcml_command_lines() -> None:
    assert len(COMMAND_LINES) >= 15, COMMAND_LINES


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_each_command_line_names_a_real_command_and_its_options(line: str) -> None:
    words = [w.strip("[]") for w in line.split()]
    cmd, path, rest = _resolve(words)
    assert path, f"`hcml {line}`: {words[0]!r} is not an hcml command"
    assert not isinstance(cmd, click.Group), f"`hcml {line}`: `hcml {' '.join(path)}` needs a sub-command"
    assert "unavailable" not in (cmd.help or ""), f"`hcml {' '.join(path)}`: {cmd.help}"
    written = {alt.split("=")[0] for w in rest for alt in w.split("|") if alt.startswith("--")}
    unknown = written - _options(cmd)
    assert not unknown, f"`hcml {line}`: `hcml {' '.join(path)}` has no option {sorted(unknown)}"


def test_paths_the_readme_names_exist() -> None:
    named = set()
    for span in SPANS:
        named |= set(re.findall(r"(?:scripts|docs|bench|deploy|realtime/deploy)/[\w./-]+\.(?:sh|md|py|yaml)", span))
        named |= set(re.findall(r"\b(?:hcml|realtime|tests)/[\w/]+\.py\b", span))
    named = {n for n in named if "<" not in n}
    assert len(named) >= 10, named
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"README names files that do not exist: {missing}"


def test_the_two_commands_are_scripts_and_ci_runs_the_second() -> None:
    block = README.split("## The two commands", 1)[1].split("```", 2)[1]
    commands = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith(("#", "bash"))]
    assert commands == ["scripts/demo.sh", "scripts/test.sh"], commands
    for c in commands:
        assert (ROOT / c).is_file() and (ROOT / c).stat().st_mode & 0o111, f"{c} is not an executable script"
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
