"""`--help` of the simulator's commands: a plain description, and every option a line of help
with its default (issue 20, point 4)."""

from __future__ import annotations

import re

import pytest

from hwsim import bench, remote, wearable

COMMANDS = {"hwsim.wearable": wearable.main, "hwsim.bench": bench.main, "hwsim.remote": remote.main}


def help_text(main, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def option_blocks(text: str) -> dict[str, str]:
    """Each option's (and positional's) help, whitespace-collapsed, by its first name."""
    heading = re.search(r"^(positional arguments|options|optional arguments):$", text, re.M)
    blocks = {}
    for block in re.split(r"\n(?=  \S)|\n\n", text[heading.end() :]):
        if not block.startswith("  "):
            continue  # a heading
        first, *rest = block.strip().split("\n")
        names, _, help_on_first = first.partition("  ")
        blocks[names.split()[0].rstrip(",")] = " ".join((help_on_first + " ".join(rest)).split())
    return blocks


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_a_help_line_with_its_default(command, capsys, monkeypatch):
    text = help_text(COMMANDS[command], capsys, monkeypatch)
    blocks = option_blocks(text)
    assert "--seed" in blocks and "--fault-rate" in blocks, text
    for name, said in blocks.items():
        if name == "-h":
            continue
        assert len(said.split()) >= 3, f"{command} {name}: no help ({said!r})"
        if name.startswith("--"):
            assert "(default: " in said, f"{command} {name}: no default in {said!r}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_description_is_plain_text_and_says_what_the_command_is(command, capsys, monkeypatch):
    text = help_text(COMMANDS[command], capsys, monkeypatch)
    description = text.split("\n\n")[1]
    assert not re.search(r":(mod|class|func|attr):|``", text), description
    assert "for now" not in text  # hwsim.bench called itself "the main job, for now"
    assert "SIMULATED" in text
