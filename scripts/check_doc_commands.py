"""Checks that the shell commands in README.md and documentation/*.md are valid as written.

Every fenced ``bash``/``sh``/``shell``/``console`` block is read; continuation lines are joined, comments
dropped. Each ``torsoseg_*`` command is parsed by that command's own argument parser (cheap: nothing runs),
so a renamed or removed flag, a missing required option or a bad choice is caught with the file and line.
``python benchmarks/*.py`` and ``python scripts/*.py`` commands are checked for the script's existence, and
``make`` targets against the Makefile. With ``--run-help`` each distinct ``torsoseg_*`` program also runs
``--help`` in a subprocess.

Usage: ``python scripts/check_doc_commands.py [--run-help]`` (exit code 1 when a command is wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
PROGRAMS = {
    "torsoseg_demo": "torsoseg.cli.demo",
    "torsoseg_evaluate": "torsoseg.cli.evaluate",
    "torsoseg_verify": "torsoseg.cli.verify",
    "torsoseg_convert": "torsoseg.cli.convert",
    "torsoseg_predict": "torsoseg.cli.predict",
    "torsoseg_train": "torsoseg.cli.train",
    "torsoseg_plan_and_preprocess": "torsoseg.cli.plan_and_preprocess",
    "torsoseg_phantom": "torsoseg.cli.phantom",
}


@dataclass(frozen=True)
class Command:
    """One documented command: where it is and its words (comments removed, continuations joined)."""

    file: Path
    line: int
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: {shlex.join(self.words)}"


def documents(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "documentation").glob("*.md"))]


def commands(path: Path) -> list[Command]:
    """The commands of the shell blocks of one Markdown file."""
    out: list[Command] = []
    lang: str | None = None
    pending, start = "", 0
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = FENCE.match(line.strip())
        if m:
            lang = None if lang is not None else m.group(1).lower()
            pending = ""
            continue
        if lang not in SHELL_LANGS:
            continue
        text = line.strip()
        if text.startswith("$ "):
            text = text[2:]
        if not pending:
            start = no
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        full = (pending + text).strip()
        pending = ""
        if not full:
            continue
        try:
            words = shlex.split(full, comments=True)
        except ValueError:
            continue  # not a simple command (a heredoc, a here-string): not checked
        for part in _split_chain(words):
            if part:
                out.append(Command(path, start, tuple(part)))
    return out


def _split_chain(words: list[str]) -> list[list[str]]:
    parts, cur = [], []
    for w in words:
        if w in ("&&", "||", ";", "|"):
            parts.append(cur)
            cur = []
        else:
            cur.append(w)
    parts.append(cur)
    return parts


def _drop_optional_synopsis(words: tuple[str, ...]) -> tuple[str, ...]:
    """A usage synopsis (``[--name NAME]``): the bracketed, optional parts are left out."""
    out, depth = [], 0
    for w in words:
        depth += w.count("[")
        if depth == 0:
            out.append(w)
        depth -= w.count("]")
    return tuple(out)


def _strip_env(words: tuple[str, ...]) -> tuple[str, ...]:
    i = 0
    while i < len(words) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[i]):
        i += 1
    return words[i:]


def check(command: Command) -> str | None:
    """``None`` when the command is valid as far as can be told without running it, else the problem."""
    words = _drop_optional_synopsis(_strip_env(command.words))
    if not words:
        return None
    prog = Path(words[0]).name
    if prog in PROGRAMS:
        parser = importlib.import_module(PROGRAMS[prog]).build_parser()
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(list(words[1:]))
        except SystemExit as e:
            if e.code not in (0, None):
                return err.getvalue().strip().splitlines()[-1] if err.getvalue() else f"exit {e.code}"
        return None
    if prog.startswith("python") and len(words) > 1 and words[1].endswith(".py"):
        script = REPO / words[1]
        if words[1].startswith(("benchmarks/", "scripts/")) and not script.is_file():
            return f"{words[1]} does not exist"
        return None
    if prog == "make" and len(words) > 1:
        targets = set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))
        unknown = [w for w in words[1:] if "=" not in w and not w.startswith("-") and w not in targets]
        return f"unknown make target(s) {unknown}" if unknown else None
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="example: python scripts/check_doc_commands.py --run-help")
    p.add_argument("--run-help", action="store_true", help="also run each torsoseg_* program's --help")
    args = p.parse_args(argv)
    problems, seen = [], set()
    for doc in documents():
        for c in commands(doc):
            msg = check(c)
            if msg:
                problems.append(f"{c}\n    -> {msg}")
            words = _strip_env(c.words)
            if words and Path(words[0]).name in PROGRAMS:
                seen.add(Path(words[0]).name)
    if args.run_help:
        for prog in sorted(seen):
            r = subprocess.run([sys.executable, "-m", PROGRAMS[prog], "--help"], capture_output=True,
                               text=True, cwd=REPO)
            if r.returncode != 0:
                problems.append(f"{prog} --help exits {r.returncode}: {r.stderr.strip()[-300:]}")
    for line in problems:
        print(line)
    print(f"{len(problems)} problem(s) in the documented commands of {len(documents())} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
