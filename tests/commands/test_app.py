"""The command line as a whole: version, help, examples, exit codes, completion, global options, --workers."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import typer
from typer.testing import CliRunner

from signprep import __version__
from signprep.cli import app
from signprep.commands import ExitCode, exit_code_table
from signprep.manifests import BUILDERS, write_manifest

SIGNPREP = Path(sys.executable).parent / "signprep"  # the console script of this virtualenv
README = Path(__file__).resolve().parents[2] / "README.md"
CLICK_APP = typer.main.get_command(app)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _commands(group=CLICK_APP, path=()):
    """(path, click command) of every leaf command: ('extract',), ('train', 'dsft'), ..."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _parse(command_line: str) -> None:
    """Parse a `signprep ...` line as the app would, without running it: unknown options, bad choices
    and missing values raise click's UsageError."""
    words = shlex.split(command_line)
    assert words[0] == "signprep", command_line
    command, args = CLICK_APP, words[1:]
    while hasattr(command, "commands") and args and not args[0].startswith("-"):
        command, args = command.commands[args[0]], args[1:]
    command.make_context(command.name, args)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"signprep {__version__}"
    run = subprocess.run([SIGNPREP, "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"signprep {__version__}"


def test_python_dash_m_signprep_is_the_same_app():
    run = subprocess.run([sys.executable, "-m", "signprep", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == invoke("--help").output.replace("Usage: root", "Usage: signprep")
    assert run.stdout.startswith("Usage: signprep [OPTIONS] COMMAND [ARGS]...")


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=" ".join)
def test_every_command_help_ends_with_an_example_that_parses(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    help_text, _, examples = result.output.rstrip().rpartition("\n  Example:\n")
    assert help_text, f"`signprep {' '.join(path)} --help` has no Example: block at its end"
    lines = [line.strip() for line in examples.splitlines()]
    assert lines and all(line.startswith(f"signprep {' '.join(path)} ") for line in lines), lines
    for line in lines:
        _parse(line)
    assert max(len(line) for line in result.output.splitlines()) <= 80  # reads in a standard terminal


def test_an_example_that_does_not_parse_is_caught():
    with pytest.raises(Exception, match="No such option"):
        _parse("signprep inspect out/wlasl --jsn")
    with pytest.raises(Exception, match="not one of"):
        _parse("signprep extract -d wlsal --root WLASL/ -o out")


def test_exit_codes_are_written_once_and_shown_by_help_and_readme():
    table = exit_code_table()
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]
    assert [line.split()[0] for line in table.splitlines() if not line.startswith(" " * 7)] == [
        "0", "1", "2", "3", "130",
    ]  # fmt: skip
    root_help = invoke("--help").output
    assert "Exit codes (every command):\n" + "\n".join(f"  {line}" for line in table.splitlines()) in root_help
    assert table in README.read_text(encoding="utf-8"), "README's exit codes differ from exit_code_table()"


def _command_lines(*documents: Path) -> list[str]:
    """Every `signprep ...` command line in the documents' code blocks ([optional] parts kept, `\\`
    continuations joined, `torchrun ... -m signprep` read as `signprep`; in a block with `$ ` prompts
    only the prompted lines), placeholders replaced by values of the right type."""
    lines = []
    for document in documents:
        for block in re.findall(r"```[a-z]*\n(.*?)```", document.read_text(encoding="utf-8"), flags=re.S):
            block = block.replace("\\\n", " ")
            prompted = "\n$ " in f"\n{block}"
            for line in block.splitlines():
                if prompted and not line.startswith("$ "):
                    continue
                line = line.removeprefix("$ ").split("#")[0].strip().removeprefix(".venv/bin/")
                if line.startswith("torchrun ") and " -m signprep " in line:
                    line = "signprep " + line.split(" -m signprep ", 1)[1]
                if not line.startswith("signprep ") or "..." in line:
                    continue
                line = line.replace("[", "").replace("]", "")
                lines.append(re.sub(r"(-j|--workers) N\b", r"\1 2", line))
    return lines


def test_the_readme_shows_every_command():
    lines = _command_lines(README)
    shown = {tuple(shlex.split(line)[1:3]) for line in lines} | {tuple(shlex.split(line)[1:2]) for line in lines}
    assert [path for path, _ in _commands() if path not in shown] == []


def test_the_command_lines_of_the_readme_docs_and_model_cards_parse():
    documents = [
        README,
        *sorted((README.parent / "docs").glob("*.md")),
        *sorted((README.parent / "models").glob("*.md")),
    ]
    lines = _command_lines(*documents)
    assert len(lines) >= 30
    for line in lines:
        _parse(line)


def _complete(words: str) -> list[str]:
    """What bash completion offers after `words` (Click's protocol: the script's env variables)."""
    cword = len(shlex.split(words)) - (0 if words.endswith(" ") else 1)
    env = {"_SIGNPREP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(app, [], env=env, prog_name="signprep")
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_shell_completion_offers_the_choices_and_shipped_names():
    assert _complete("signprep ex") == ["extract"]
    assert _complete("signprep extract --pipeline ") == ["disentangle", "hand_crops", "keypoints", "multimodal"]
    assert _complete("signprep plan -p m") == ["multimodal"]
    assert _complete("signprep extract -d ") == list(BUILDERS)  # the registry's names, in its order
    assert {"wlasl", "phoenix2014t", "csl-daily", "how2sign"} <= set(BUILDERS)
    assert _complete("signprep extract --backend ") == ["loky", "dask"]
    assert _complete("signprep train handpose --config ") == ["handpose", "handpose-thesis"]
    assert _complete("signprep extract -d msasl --dataset-option ") == ["split_files=", "videos_dir=", "classes="]
    assert "--install-completion" in invoke("--help").output


def test_verbose_and_quiet_exclude_each_other(tmp_path: Path):
    result = invoke("-v", "-q", "inspect", tmp_path)
    assert result.exit_code == 2 and "--verbose and --quiet" in result.output


@pytest.mark.skipif(shutil.which("taskset") is None or joblib.cpu_count() < 2, reason="needs taskset and 2 CPUs")
def test_workers_default_to_the_cpus_this_process_may_use(tmp_path: Path, small_manifest):
    """Pinned to one CPU (the scheduler's affinity, as Slurm or taskset set it) the default is 1, not the
    machine's count."""
    manifest_file = tmp_path / "m.jsonl"
    write_manifest(small_manifest.records, manifest_file)
    plan = [str(SIGNPREP), "plan", "--manifest", str(manifest_file), "--json"]
    free = subprocess.run(plan, capture_output=True, text=True, timeout=120)
    pinned = subprocess.run(["taskset", "-c", "0", *plan], capture_output=True, text=True, timeout=120)
    assert free.returncode == 0 and pinned.returncode == 0, free.stderr + pinned.stderr
    assert json.loads(free.stdout)["workers"] == joblib.cpu_count() >= 2
    assert json.loads(pinned.stdout)["workers"] == 1
    assert "[default: (the CPUs this process may use); x>=1]" in " ".join(invoke("plan", "--help").output.split())
