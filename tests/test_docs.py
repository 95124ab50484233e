"""The docs quote the CLI as it is: every `emodub COMMAND --flag` in a code block of README.md or docs/ is a real
command with real options, and every local link in them points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from emodub.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"(?:^|[\s/])emodub ([a-z][a-z-]*)(.*)")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def code_lines(page: Path) -> list[str]:
    """The lines of the page's fenced code blocks, with continued lines (a trailing backslash, or an indented
    line opening with an option) joined to the line they continue."""
    lines: list[str] = []
    inside = False
    for raw in page.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        continued = bool(lines) and (lines[-1].endswith("\\") or re.match(r"\s+[\[-]", raw) is not None)
        if continued:
            lines[-1] = lines[-1].rstrip("\\") + " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def quoted_commands() -> list[tuple[str, str, str]]:
    """(page, command, the rest of its line without a trailing comment) for every emodub command in a code block."""
    found = []
    for page in PAGES:
        for line in code_lines(page):
            match = COMMAND.search(re.split(r"\s#", line, maxsplit=1)[0])
            if match:
                found.append((page.relative_to(ROOT).as_posix(), match.group(1), match.group(2)))
    return found


def options_of(command) -> set[str]:
    """Every spelling of the command's options (typer carries its own click, so this reads the parameters' kind)."""
    names = {"--help"}
    for parameter in command.params:
        if parameter.param_type_name == "option":
            names.update(parameter.opts)
            names.update(parameter.secondary_opts)
    return names


CLI = typer.main.get_command(app)
QUOTED = quoted_commands()


def test_the_docs_quote_commands_at_all():
    pages = {page for page, _, _ in QUOTED}
    assert {"README.md", "docs/cli.md", "docs/batch.md", "docs/studio.md"} <= pages, pages
    assert {"say", "dub", "analyze", "serve", "detect"} <= {command for _, command, _ in QUOTED}


@pytest.mark.parametrize(("page", "command", "rest"), QUOTED, ids=[f"{p}:{c}:{i}" for i, (p, c, _) in enumerate(QUOTED)])
def test_every_quoted_command_and_flag_exists(page, command, rest):
    assert command in CLI.commands, f"{page}: `emodub {command}` is not a command ({', '.join(sorted(CLI.commands))})"
    unknown = sorted(set(FLAG.findall(rest)) - options_of(CLI.commands[command]))
    assert not unknown, f"{page}: `emodub {command}` has no option {', '.join(unknown)}"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_local_link_points_at_a_file(page):
    text = page.read_text(encoding="utf-8")
    local = [target for target in LINK.findall(text) if "://" not in target and not target.startswith("mailto:")]
    missing = [target for target in local if not (page.parent / target).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_bytes()) < 12_000, "README.md is the front page; details belong in docs/"
