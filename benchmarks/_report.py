"""Renders ``documentation/benchmarks.md`` from the result JSONs that ``run_all.py`` writes.

A result file ``<results>/<name>.json`` holds the benchmark script's own JSON under ``result`` and, beside
it, the command, date, git commit, machine and load of the run. Numbers in the document come only from
those files (tables: ``_report_tables.py``); the prose comes from ``_report_text.py``. A missing result
renders as "not run yet" with the command that produces it. Measurements that ``run_all.py`` does not run
(they need trained models, e.g. the cascade's) are written up in ``benchmarks/sections/*.md``, beside
their JSONs in a subfolder of ``results/``, and appended in file-name order: edit those files, not the
rendered page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

from _report_tables import SECTIONS, Goal, goals_list, num, status, table
from _report_text import INFERENCE_GROUP, PREAMBLE, TEXT

__all__ = ["SECTIONS", "render"]

# --------------------------------------------------------------------------------------------------
# the document
# --------------------------------------------------------------------------------------------------


def load_results(folder: Path) -> dict[str, dict | str]:
    """``name -> record`` per benchmark with a result file; an unreadable one maps to its error."""
    out: dict[str, dict | str] = {}
    for name in SECTIONS:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "result" not in record:
                raise ValueError("no 'result' key")
            out[name] = record
        except ValueError as e:
            out[name] = f"{path}: cannot be read ({e})"
    return out


def machine_key(m: dict) -> tuple:
    return (m.get("cpu_model"), m.get("logical_cores"), m.get("ram_gib"), m.get("torch"))


def machine_section(records: dict[str, dict]) -> str:
    machines: dict[tuple, tuple[dict, list[str]]] = {}
    for name, rec in records.items():
        m = rec.get("machine") or {}
        machines.setdefault(machine_key(m), (m, []))[1].append(name)
    if not machines:
        return "No benchmark has been run yet."
    labels = [chr(ord("A") + i) for i in range(len(machines))]
    header = ["", *(f"machine {a}" for a in labels)] if len(machines) > 1 else ["", "machine"]
    cols = list(machines.values())

    def row(title: str, f: Callable[[dict, list[str]], str]) -> list[str]:
        return [title, *(f(m, names) for m, names in cols)]

    rows = [
        row("CPU", lambda m, _: str(m.get("cpu_model", "?"))),
        row(
            "cores (logical / physical)",
            lambda m, _: f"{m.get('logical_cores', '?')} / {m.get('physical_cores') or '?'}",
        ),
        row("native bfloat16", lambda m, _: ", ".join(m.get("bf16") or []) or "no"),
        row("RAM", lambda m, _: num(m.get("ram_gib"), 1, " GiB")),
        row("torch / Python", lambda m, _: f"{m.get('torch', '?')} / {m.get('python', '?')}"),
        row("OS", lambda m, _: str(m.get("os", "?"))),
        row("benchmarks", lambda _, names: ", ".join(names)),
    ]
    dates = sorted(rec["date"] for rec in records.values() if rec.get("date"))
    commits = sorted({commit_text(rec) for rec in records.values()})
    comp = sorted(
        {
            ", ".join(f"{k} {v}" for k, v in rec["comparison"].items() if v)
            for rec in records.values()
            if rec.get("comparison")
        }
    )
    extra = (
        [
            f"Measured between {short_date(dates[0])} and {short_date(dates[-1])}; "
            f"commit{'s' if len(commits) > 1 else ''}: {'; '.join(commits)}."
        ]
        if dates
        else []
    )
    if comp:
        extra.append(f"Comparison environment: {'; '.join(comp)}.")
    return table(header, rows) + ("\n\n" + " ".join(extra) if extra else "")


def short_date(iso: str) -> str:
    try:
        t = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    except ValueError:
        return iso
    return t.strftime("%Y-%m-%d %H:%M UTC")


def commit_text(rec: dict) -> str:
    g = rec.get("git") or {}
    c = g.get("commit") or "unknown"
    if g.get("dirty") is True:
        c += " + uncommitted changes"
    elif g.get("dirty") is None and g.get("commit"):
        c += " (working tree state unknown)"
    return f"`{c}`" if g.get("commit") else c


def run_line(rec: dict) -> str:
    """When, where and under which load a result was measured, and warnings that go with it."""
    m = rec.get("machine") or {}
    parts = [f"Measured {short_date(rec.get('date', '?'))}, commit {commit_text(rec)}"]
    load = rec.get("load_average_before")
    cores = m.get("logical_cores") or 1
    if load:
        busy = load[0] > 0.5 * cores
        parts.append(
            f"load average before the run {load[0]:.1f} on {cores} cores"
            + (": **machine busy**, re-run on a quiet machine before quoting" if busy else " (quiet)")
        )
    if rec.get("load_note"):
        parts.append(rec["load_note"])
    text = "; ".join(parts) + "."
    if rec.get("quick"):
        text = "**Smoke run (`--quick`): tiny inputs, the figures are not representative.** " + text
    if rec.get("source") and rec["source"] != "benchmarks/run_all.py":
        text += f" Source: {rec['source']}."
    return text


def conditions(rec: dict) -> str:
    """Short label of the run's conditions for the summary table."""
    if rec.get("quick"):
        return "smoke run (`--quick`)"
    load, cores = rec.get("load_average_before"), (rec.get("machine") or {}).get("logical_cores") or 1
    if load:
        return "machine busy" if load[0] > 0.5 * cores else "quiet machine"
    return "machine busy (reported)" if rec.get("load_note") else "load unknown"


def portable_command(command: str) -> str:
    """A recorded command as a reader types it: the nnU-Net interpreter becomes ``$TORSOSEG_BENCH_PYTHON``.

    Result files written before ``display_command`` did this hold the absolute interpreter path of the
    machine that ran them, which does not exist on a reader's machine.
    """
    return re.sub(r"(--nnunet-python)[ =]\S+", r"\1 $TORSOSEG_BENCH_PYTHON", command)


def section(name: str, rec: dict | str | None, level: int) -> tuple[str, list[Goal]]:
    t = TEXT[name]
    rerun = f"python benchmarks/run_all.py --only {name}"
    parts = [f"{'#' * level} {t['title']}", t["intro"]]
    goals: list[Goal] = []
    if rec is None:
        parts.append(f"**Not run yet.** Produce this result with:\n\n```bash\n{rerun}\n```")
    elif isinstance(rec, str):
        parts.append(f"**Result unreadable:** {rec}. Re-run with:\n\n```bash\n{rerun}\n```")
    else:
        try:
            body, goals = SECTIONS[name](rec["result"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            body = f"**Result has an unexpected layout** ({type(e).__name__}: {e}); re-run it."
        command = portable_command(str(rec.get("command", "?")))
        parts += [f"Reproduce: `{rerun}`, which runs:\n\n```bash\n{command}\n```", run_line(rec), body]
        if goals:
            parts.append("Goals:\n\n" + goals_list(goals))
    parts.append(t["notes"])
    return "\n\n".join(parts), goals


SECTIONS_DIR = Path(__file__).resolve().parent / "sections"


def render(results_dir: Path, sections_dir: Path = SECTIONS_DIR) -> str:
    """The whole ``benchmarks.md`` text from the result JSONs in ``results_dir``.

    Args:
        results_dir: folder with ``<name>.json`` files written by ``run_all.py`` (may be missing or empty).
        sections_dir: written-up sections (``*.md``) appended after the rendered ones.

    Returns:
        Markdown text ending with a newline.

    Example:
        >>> text = render(Path("benchmarks/results"))  # doctest: +SKIP
    """
    loaded = load_results(Path(results_dir))
    good = {k: v for k, v in loaded.items() if isinstance(v, dict)}
    sections, summary = [], []
    for name in SECTIONS:
        level = 3 if name.startswith("inference_") else 2
        if name == "inference_sliding_window":
            sections.append("## Inference: torsoseg vs nnU-Net v2 and MONAI (CPU)\n\n" + INFERENCE_GROUP)
        text, goals = section(name, loaded.get(name), level)
        sections.append(text)
        title = f"`{name}`"
        if name not in good:
            summary.append([title, "-", "not run yet" if name not in loaded else "unreadable", "-", "-"])
        for g in goals:
            summary.append([title, g.text, status(g.met), g.detail, conditions(good[name])])
    head = [
        "# Benchmarks",
        "<!-- Generated by benchmarks/run_all.py from benchmarks/results/*.json: do not edit by hand. -->",
        PREAMBLE,
        "## Machine",
        machine_section(good),
        "## Goals at a glance",
        table(["benchmark", "goal", "status", "measured", "conditions"], summary),
    ]
    written = [f.read_text().strip() for f in sorted(Path(sections_dir).glob("*.md"))]
    return "\n\n".join(head + sections + written) + "\n"
