"""Every command explains itself (issue 20, point 4): ``--help`` gives each option a line of
help, and each option that takes a value says its default. Checked on the text a user reads,
for every command line of the project, by running it as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")]),
    "COLUMNS": "100",
}

HOST_COMMANDS = [
    line.split()[0]
    for line in (REPO / "host" / "__main__.py").read_text().split('"""')[1].splitlines()
    if line.startswith("  ") and line.split()
]
COMMANDS = [
    ("device",),
    ("hwsim.wearable",),
    ("hwsim.bench",),
    ("hwsim.remote",),
    ("host",),
    *(("host", name) for name in HOST_COMMANDS),
    ("host", "video", "extract"),
    ("host", "video", "plot"),
    ("host", "video", "analyse"),
    ("host", "video", "session"),
    ("host", "video", "train"),
    ("host", "video", "compare"),
    ("hwsim.fusion_study",),
    ("hwsim.cohort",),
    ("hwsim.physiology_check",),
]


def help_text(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *argv, "--help"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def entries(text: str) -> list[tuple[str, str]]:
    """(invocation, help) of every argument argparse lists, from ``--help`` text."""
    found: list[list[str]] = []
    in_list = False
    for line in text.splitlines():
        if re.match(r"^(options|positional arguments|[\w ,'-]+ arguments?):$", line):
            in_list = True
            continue
        if not line.startswith(" "):  # a blank line or other text ends the list
            in_list = False
            continue
        if not in_list:
            continue
        if re.match(r"^  \S", line):  # a new argument: invocation, maybe help after 2+ spaces
            head, _, rest = line[2:].partition("  ")
            found.append([head.strip(), rest.strip()])
        else:
            found[-1][1] = (found[-1][1] + " " + line.strip()).strip()
    return [(a, b) for a, b in found if not a.startswith("-h, --help")]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_option_has_help_and_its_default(argv):
    text = help_text(*argv)
    listed = entries(text)
    assert listed, text
    for invocation, help_line in listed:
        assert help_line, f"{' '.join(argv)}: {invocation} has no help"
        takes_value = invocation.startswith("-") and re.search(r"[ =][A-Z{]", invocation)
        if takes_value:
            assert (
                "default" in help_line.lower()
            ), f"{' '.join(argv)}: {invocation} does not say its default: {help_line!r}"


def test_help_shows_no_docstring_markup():
    for argv in COMMANDS:
        text = help_text(*argv)
        assert not re.search(r":(mod|class|func|data|meth):`", text), " ".join(argv)
        assert "``" not in text, " ".join(argv)


@pytest.mark.parametrize("argv", [("hwsim.wearable",), ("hwsim.bench",), ("hwsim.remote",)])
def test_the_simulators_say_they_are_simulated(argv):
    text = help_text(*argv)
    assert "SIMULATED" in text
    assert "for now" not in text  # hwsim.bench called itself "the main job, for now"
