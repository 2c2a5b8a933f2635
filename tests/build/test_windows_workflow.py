"""The Windows workflow (.github/workflows/windows.yml) cannot run here; its steps are checked
for what can go wrong without Windows: YAML, pinned actions, paths into this repository, the
`messenger-cli` commands it runs (parsed by the real parser), its Python one-liners, and the
strings it expects from the program."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from messenger.cli import build_parser
from messenger.client.services.updater import UpdateState
from messenger.client.services.windows_shell import ROOM_LINK_SCHEME
from messenger.client.ui.tray import ICON_SIZES

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "windows.yml"


@pytest.fixture(scope="module")
def job():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    assert set(workflow[True]) == {"push", "pull_request", "workflow_dispatch"}
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == "windows-latest" and job["defaults"]["run"]["shell"] == "pwsh"
    return job


def scripts(job) -> str:
    return "\n".join(step["run"] for step in job["steps"] if "run" in step)


def test_every_step_runs_a_script_or_a_pinned_action(job):
    for step in job["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "uses" in step:
            assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]
        else:
            assert step.get("name"), f"a run step without a name: {step['run'][:60]}"


def test_paths_into_the_repository_exist(job):
    text = scripts(job)
    paths = set(re.findall(r"\b((?:build|installer|updates|spec|messenger|tests)/[\w./-]+\.\w+)", text))
    assert {"build/build.py", "build/installers.py", "build/constraints.txt"} <= paths
    assert [path for path in paths if not (ROOT / path).is_file()] == []
    modules = set(re.findall(r"python -m ([\w.]+)", text)) - {"pip"}
    assert modules == {"updates.repository"}
    assert all((ROOT / (module.replace(".", "/") + ".py")).is_file() for module in modules)


def test_the_programs_commands_parse(job):
    """Every `messenger-cli.exe ...` the workflow runs is a command the program knows."""
    commands = re.findall(r'messenger-cli\.exe"?[ \t]+([^\n|;)]*)', scripts(job))
    assert len(commands) >= 6
    for command in commands:
        if command.startswith("-ArgumentList"):  # Start-Process: the arguments are one string, `" escapes a quote
            command = command.split('"', 1)[1].rsplit('" -PassThru', 1)[0].replace('`"', '"')
        tokens = [token.strip('"') for token in shlex.split(command, posix=False)]
        tokens = ["X" if token.startswith("$") else token for token in tokens]
        try:
            build_parser().parse_args(tokens)
        except SystemExit as exit:  # --version ends here with 0; an unknown command with 2
            assert exit.code == 0 and tokens == ["--version"], command
    assert any(command.startswith("service winsw") for command in commands)
    assert any(command.startswith("update apply") for command in commands)


def test_python_one_liners_compile_and_expected_outputs_match_the_program(job):
    text = scripts(job)
    for code in re.findall(r'python -c "([^"\n]+)"', text):
        compile(code, "<workflow>", "exec")
    assert f'"{UpdateState("waiting", "99.0.0").message}"' in text
    assert "client started" in (ROOT / "messenger" / "client" / "launch.py").read_text(encoding="utf-8")
    assert "--sign-pfx" in text and "--timestamp-url" in text, "the workflow signs when it has a certificate"
    assert "wix msi validate" in text
    assert f'-ne "{" ".join(map(str, ICON_SIZES))}"' in text, "the icon check expects every size build/app_icon.py writes"
    # The toast step: the self-test's words when it showed one, and the protocol key of room links.
    assert "a toast shown" in (ROOT / "messenger" / "selftest.py").read_text(encoding="utf-8")
    assert rf"HKCU:\Software\Classes\{ROOM_LINK_SCHEME}\shell\open\command" in text
    assert 'Select-String "windows toasts:"' in text


def test_the_uploaded_installers_say_they_are_for_testing_only(job):
    [upload] = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
    assert "ci-only" in upload["with"]["name"]
