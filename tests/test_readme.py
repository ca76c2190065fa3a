"""The README's promises that a file in the repository can break."""

import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def _two_commands():
    block = _read("README.md").split("## Two commands", 1)[1].split("```", 2)[1]
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_the_readme_gives_exactly_two_commands_and_ci_runs_the_test_one():
    assert _two_commands() == ["make report", "make test"]
    ci = [line for line in _read(".ci", "run").splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["make test"]


def test_both_make_targets_set_up_before_they_run():
    make = _read("Makefile")
    for target, flag in (("report", ""), ("test", " --test"), ("bench", " --bench")):
        recipe = make.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert f"scripts/bootstrap{flag}\n" in recipe, target


def test_the_verdict_table_in_the_readme_is_what_verify_declares():
    # The table is quoted output; its verdict columns must match the variants.
    from sessionfence.model import variants
    from sessionfence.model.world import World
    rows = re.findall(r"^(\S+)\s+(digest|stat)\s+(released-safety|safety|precision)\s+"
                      r"(holds|violated)\s+(proved|violated)\s", _read("README.md"), re.M)
    assert len(rows) == 24
    for variant, fingerprint, prop, expected, status in rows:
        world = World(fingerprint=fingerprint)
        assert variants.get(variant).expectation(prop, world) == expected
        assert status == ("proved" if expected == "holds" else "violated")


def test_every_documentation_link_resolves():
    for target in re.findall(r"\]\(([^)#]+)\)", _read("README.md")):
        assert os.path.exists(os.path.join(ROOT, target)), target


def test_every_subcommand_in_the_readme_exists():
    code = "\n".join(_read("README.md").split("```")[1::2])
    cmds = set(re.findall(r"^(?:\$ )?sessionfence ([\w-]+)", code, re.M))
    assert {"verify", "traces", "replay", "hunt", "check-log", "classify", "diagram", "report"} <= cmds
    for cmd in sorted(cmds):
        done = subprocess.run([sys.executable, "-m", "sessionfence", cmd, "--help"],
                              capture_output=True, text=True)
        assert done.returncode == 0, (cmd, done.stderr)
