"""The installers (build/installers.py): what the MSI built around the real program holds, and under
64-bit Wine the MSI's silent install, upgrade 1.0.0 -> 1.1.0, 1.2.0a1 -> 1.2.0 and uninstall, and the
per-user EXE's.

Wine installs a small stand-in program (a few files) through the same .wxs, .nsi and build code:
the real program's 160 MiB would only make Wine slower. Needs wixl, msitools, nsis and wine64
(Debian packages; .ci/run installs them).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import SIGNING_PASSWORD
from pe_resources import file_version, icon_sizes

from messenger import __version__
from messenger.client.services.windows_shell import APP_USER_MODEL_ID, PROTOCOLS_KEY, ROOM_LINK_SCHEME
from messenger.client.ui.tray import ICON_SIZES

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS_SCRIPT = ROOT / "build" / "installers.py"
UPGRADE_CODE = "{44093F44-5AF5-4035-9100-201F65289764}"
SERVER_URL = "https://chat.office:5000"
SERVER_FINGERPRINT = "6EBAF3816F6C0D4521AF2A7215BC1A0556C58CAA8647B8138CFC7640A4A905BA"
MESSENGER_KEY = r"HKLM\Software\Messenger"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
UNINSTALL_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall"

# The program's build comes first (tests/build/conftest.py); Wine's first start takes up to a minute.
pytestmark = pytest.mark.timeout(900)

_spec = importlib.util.spec_from_file_location("messenger_installers", INSTALLERS_SCRIPT)
installers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(installers)


def wine_program(name: str) -> Path:
    """One of Wine's own 64-bit Windows programs."""
    found = list(Path("/usr/lib").glob(f"*/wine/x86_64-windows/{name}")) + list(
        Path("/usr/lib/wine").glob(f"x86_64-windows/{name}"))
    assert found, f"no Wine {name}: install wine64"
    return found[0]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/lib/wine")
    assert found, f"{name} is missing: run `python3 build/system_packages.py test` as root"
    return found


def build(payload: Path, version: str | None, output: Path, *args: str) -> None:
    """build/installers.py; without `version`, the one the payload was built as."""
    built = subprocess.run([sys.executable, str(INSTALLERS_SCRIPT), "--payload", str(payload), "--output", str(output),
                            *(["--version", version] if version else []), *args],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr


def msi_table(msi: Path, table: str) -> list[dict]:
    """The rows of one MSI table, as `msiinfo export` prints them (a binary column's streams land in
    a folder named after the table, beside the MSI)."""
    exported = subprocess.run([tool("msiinfo"), "export", str(msi), table], capture_output=True, text=True, check=True,
                              cwd=msi.parent)
    lines = exported.stdout.splitlines()
    columns = lines[0].split("\t")
    return [dict(zip(columns, line.split("\t"))) for line in lines[3:] if line]


def stand_in_program(folder: Path, version: str, only_here: str) -> Path:
    """A few files shaped like the onedir program built as `version`, one of them only in it."""
    (folder / "_internal" / "PySide6").mkdir(parents=True)
    (folder / "_internal" / "messenger").mkdir()
    (folder / "_internal" / "messenger" / "BUILT_VERSION").write_text(version)
    (folder / "messenger.exe").write_bytes(b"MZ stand-in")
    (folder / "messenger-cli.exe").write_bytes(b"MZ stand-in cli")
    (folder / "VERSION").write_text(version)
    (folder / "_internal" / "PySide6" / "Qt6Core.dll").write_bytes(b"MZ stand-in")
    (folder / "_internal" / only_here).write_text(version)
    return folder


@pytest.fixture(scope="module")
def real_msi(program, tmp_path_factory):
    output = tmp_path_factory.mktemp("msi")
    build(program.parent, __version__, output, "--only", "msi")
    return output / f"messenger-{__version__}.msi"


def test_msi_versions_are_numeric_and_keep_release_order():
    assert installers.msi_version("1.2.0") == "1.2.0"
    assert installers.msi_version("1.2") == "1.2.0"
    assert installers.msi_version("1.2.0a1") == "1.2.0.101"
    assert installers.msi_version("1.2.0b2") == "1.2.0.202"
    assert installers.msi_version("1.2.0rc1") == "1.2.0.301"
    releases = ["1.1.0", "1.2.0a1", "1.2.0a2", "1.2.0b1", "1.2.0rc1", "1.2.0rc2", "1.2.0", "1.2.1a1", "1.2.1", "1.3.0a1"]
    # Windows compares three fields; among the same three the installed ReleaseOrder decides.
    assert sorted(releases, key=lambda r: ([int(f) for f in installers.msi_version(r).split(".")[:3]],
                                           installers.release_order(r))) == releases
    assert [installers.file_version(r) for r in ("1.2.0a1", "1.2.0")] == ["1.2.0.101", "1.2.0.400"]
    for unmappable in ("1.2.0.dev1", "1.2.0.post1", "256.0.0", "1.2.3.4", "1.2.0a100"):
        with pytest.raises(ValueError):
            installers.msi_version(unmappable)


def test_msi_of_the_real_program_holds_files_shortcut_upgrade_and_presets(real_msi, program):
    bundle = program.parent
    files = msi_table(real_msi, "File")
    shipped = [f for f in bundle.rglob("*") if f.is_file()]
    assert len(files) == len(shipped) + 1 > 100  # and the managed-install marker
    rows = {row["File"]: row for row in files}
    program_row, cli_row = rows["MessengerExe"], rows["MessengerCliExe"]
    assert (program_row["FileName"], cli_row["FileName"]) == ("messenger.exe", "messenger-cli.exe")
    assert int(program_row["FileSize"]) == program.with_name("messenger").stat().st_size
    assert int(cli_row["FileSize"]) == program.stat().st_size  # the `program` fixture is messenger-cli
    [marker] = [row for row in files if row["FileName"] == "managed-install"]
    directories = {row["Directory"]: row for row in msi_table(real_msi, "Directory")}
    assert directories["INSTALLDIR"]["Directory_Parent"] == "ProgramFiles64Folder"
    assert directories["INSTALLDIR"]["DefaultDir"] == "Messenger"
    components = {row["Component"]: row for row in msi_table(real_msi, "Component")}
    assert components[program_row["Component_"]]["Directory_"] == "INSTALLDIR"
    assert components[marker["Component_"]]["Directory_"] == "INSTALLDIR"
    assert all(int(row["Attributes"]) & 256 for row in components.values()), "every component is 64-bit"

    [shortcut] = msi_table(real_msi, "Shortcut")
    assert (shortcut["Directory_"], shortcut["Name"], shortcut["Target"], shortcut["WkDir"]) == \
        ("ProgramMenuFolder", "Messenger", "[INSTALLDIR]messenger.exe", "INSTALLDIR")
    # The program's icon (build/app_icon.py) on the shortcut and in Apps & features.
    [icon] = msi_table(real_msi, "Icon")
    assert shortcut["Icon_"] == icon["Name"] == "messenger.ico"
    ico = subprocess.run([tool("msiinfo"), "extract", str(real_msi), f"Icon.{icon['Name']}"], capture_output=True,
                         check=True).stdout
    assert ico[:6] == b"\0\0\1\0" + bytes([len(ICON_SIZES), 0])
    [app_id] = msi_table(real_msi, "MsiShortcutProperty")
    assert (app_id["Shortcut_"], app_id["PropertyKey"], app_id["PropVariantValue"]) == \
        (shortcut["Shortcut"], "System.AppUserModel.ID", APP_USER_MODEL_ID)

    upgrades = {row["ActionProperty"]: row for row in msi_table(real_msi, "Upgrade")}
    assert {row["UpgradeCode"] for row in upgrades.values()} == {UPGRADE_CODE}
    newer_or_same = upgrades["WIX_UPGRADE_DETECTED"]
    assert (newer_or_same["VersionMax"], newer_or_same["Attributes"]) == (installers.msi_version(__version__), "513")
    assert upgrades["WIX_DOWNGRADE_DETECTED"]["VersionMin"] == installers.msi_version(__version__)
    version3 = ".".join(installers.msi_version(__version__).split(".")[:3])
    assert sorted(row["Condition"] for row in msi_table(real_msi, "LaunchCondition")) == [
        f'Installed OR NOT (SAVED_VERSION = "{version3}" AND SAVED_RELEASE_ORDER > '
        f'{installers.release_order(__version__)})', "NOT WIX_DOWNGRADE_DETECTED"]
    actions = {row["Action"]: row for row in msi_table(real_msi, "CustomAction")}
    assert actions["RemoveUpdaterFolders"]["Type"] == "3170", "deferred, as the installer service, exit code ignored"
    assert '"%~fI.update"' in actions["RemoveUpdaterFolders"]["Target"]

    registry = {(row["Root"], row["Key"], row["Name"]): row for row in msi_table(real_msi, "Registry")}
    hklm = "2"
    presets = {"ServerUrl": ("[SERVER_URL]", "SERVER_URL"), "UpdateChannel": ("[UPDATE_CHANNEL]", "UPDATE_CHANNEL"),
               "ServerFingerprint": ("[SERVER_FINGERPRINT]", "SERVER_FINGERPRINT")}
    for name, (value, condition) in presets.items():
        row = registry[(hklm, r"Software\Messenger", name)]
        assert row["Value"] == value and components[row["Component_"]]["Condition"] == condition
    run = registry[(hklm, RUN_KEY, "Messenger")]
    assert run["Value"] == '"[INSTALLDIR]messenger.exe"'
    assert components[run["Component_"]]["Condition"] == 'START_AT_LOGIN = "1"'

    properties = {row["Property"]: row["Value"] for row in msi_table(real_msi, "Property")}
    assert properties["ProductName"] == "Messenger"
    assert properties["ProductVersion"] == installers.msi_version(__version__)
    assert properties["UpgradeCode"].upper() == UPGRADE_CODE
    assert properties["ALLUSERS"] == "1"
    assert properties["ARPPRODUCTICON"] == icon["Name"]
    assert properties["MSIRMSHUTDOWN"] == "1", "Restart Manager closes a running client, forced after its timeout"
    assert {"SERVER_URL", "UPDATE_CHANNEL", "START_AT_LOGIN", "SERVER_FINGERPRINT"} <= set(
        properties["SecureCustomProperties"].split(";"))
    summary = subprocess.run([tool("msiinfo"), "suminfo", str(real_msi)], capture_output=True, text=True, check=True)
    assert "Template: x64;1033" in summary.stdout


class Wine:
    """A 64-bit Wine prefix of its own."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.drive_c = prefix / "drive_c"
        self.env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all",
                    "WINEDLLOVERRIDES": "mscoree,mshtml="}  # no Mono or Gecko download prompts
        self.env.pop("DISPLAY", None)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([tool("wine64"), *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert not check or done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def wait(self) -> None:
        """Until every program in the prefix has ended (an NSIS uninstaller runs on from a copy)."""
        subprocess.run([tool("wineserver"), "-w"], env=self.env, timeout=300, check=True)

    def values(self, key: str) -> dict[str, str] | None:
        """The values of a registry key, None if the key does not exist."""
        done = self.run("reg", "query", key, check=False)
        if done.returncode != 0:
            return None
        return {m[1]: m[3] for m in re.finditer(r"^ {4}(\S.*?) {4}(REG_\w+) {4}(.*?)\s*$", done.stdout, re.M)}

    def installed(self, root: str) -> list[tuple[str, str]]:
        """(name, version) of every Messenger entry in Programs and Features under `root`."""
        done = self.run("reg", "query", rf"{root}\{UNINSTALL_KEY}", "/s", check=False)
        entries = re.split(r"^HKEY_\S*$", done.stdout, flags=re.M)
        found = []
        for entry in entries:
            values = dict(re.findall(r"^ {4}(\S.*?) {4}REG_\w+ {4}(.*?)\s*$", entry, re.M))
            if values.get("DisplayName") == "Messenger":
                found.append((values["DisplayName"], values["DisplayVersion"]))
        return found

    def shortcuts(self) -> list[Path]:
        return list(self.drive_c.rglob("Start Menu/Programs/Messenger.lnk"))


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    wine = Wine(tmp_path_factory.mktemp("wine") / "prefix")
    wine.run("wineboot", "--init")
    wine.wait()
    yield wine
    subprocess.run([tool("wineserver"), "-k"], env=wine.env, timeout=60)


def test_msi_installs_silently_upgrades_and_uninstalls_under_wine(wine, tmp_path):
    build(stand_in_program(tmp_path / "1.0.0", "1.0.0", "old-only.txt"), "1.0.0", tmp_path / "out", "--only", "msi")
    build(stand_in_program(tmp_path / "1.1.0", "1.1.0", "new-only.txt"), None, tmp_path / "out", "--only", "msi")
    program_files = wine.drive_c / "Program Files" / "Messenger"

    wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.0.0.msi"), "/qn",
             f"SERVER_URL={SERVER_URL}", "UPDATE_CHANNEL=canary", "START_AT_LOGIN=1",
             f"SERVER_FINGERPRINT={SERVER_FINGERPRINT}")
    assert (program_files / "messenger.exe").read_bytes() == b"MZ stand-in"
    assert (program_files / "messenger-cli.exe").read_bytes() == b"MZ stand-in cli"
    assert (program_files / "managed-install").is_file(), "the client never updates an MSI install"
    assert (program_files / "VERSION").read_text() == "1.0.0"
    assert (program_files / "_internal" / "PySide6" / "Qt6Core.dll").is_file()
    assert wine.values(MESSENGER_KEY) == {"ServerUrl": SERVER_URL, "UpdateChannel": "canary",
                                          "ServerFingerprint": SERVER_FINGERPRINT,
                                          "StartAtLogin": "0x1", "StartMenuShortcut": "0x1",
                                          "MsiVersion": "1.0.0", "ReleaseOrder": "400"}
    assert wine.values(rf"HKLM\{RUN_KEY}")["Messenger"] == r'"C:\Program Files\Messenger\messenger.exe"'
    assert len(wine.shortcuts()) == 1
    assert wine.installed("HKLM") == [("Messenger", "1.0.0")]

    # IT deploys the next release with no properties: it replaces 1.0.0 and keeps the presets.
    log = tmp_path / "upgrade.log"
    wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.1.0.msi"), "/qn", "/l*v", f"Z:{log}")
    # Read back from the registry, not left behind by Wine (which keeps values Windows would remove).
    assert f"Property(S): SERVER_URL = {SERVER_URL}\n" in log.read_text(errors="replace")
    assert wine.installed("HKLM") == [("Messenger", "1.1.0")]
    assert (program_files / "VERSION").read_text() == "1.1.0"
    assert (program_files / "_internal" / "new-only.txt").is_file()
    assert not (program_files / "_internal" / "old-only.txt").exists()
    assert wine.values(MESSENGER_KEY)["ServerUrl"] == SERVER_URL
    assert wine.values(MESSENGER_KEY)["UpdateChannel"] == "canary"
    assert wine.values(MESSENGER_KEY)["ServerFingerprint"] == SERVER_FINGERPRINT
    assert "Messenger" in wine.values(rf"HKLM\{RUN_KEY}")
    downgrade = wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.0.0.msi"), "/qn", check=False)
    assert downgrade.returncode != 0 and wine.installed("HKLM") == [("Messenger", "1.1.0")], "no downgrades"

    wine.run("msiexec", "/x", str(tmp_path / "out" / "messenger-1.1.0.msi"), "/qn")
    assert wine.installed("HKLM") == []
    assert not program_files.exists()
    assert wine.values(MESSENGER_KEY) is None
    assert "Messenger" not in (wine.values(rf"HKLM\{RUN_KEY}") or {})
    assert wine.shortcuts() == []


def test_msi_keeps_a_final_release_over_its_pre_release_and_removes_the_updaters_folders_under_wine(wine, tmp_path):
    """1.2.0a1 and 1.2.0 share the three fields Windows compares: the final replaces the
    pre-release, never the other way round; a staged update and the swap's rollback copy that a
    self-updating client left beside the install go at install and at uninstall."""
    for version in ("1.2.0a1", "1.2.0"):
        build(stand_in_program(tmp_path / version, version, f"{version}.txt"), version, tmp_path / "out", "--only", "msi")
    program_files = wine.drive_c / "Program Files" / "Messenger"
    staged, previous = program_files.with_name("Messenger.update"), program_files.with_name("Messenger.previous")

    def leave_updater_folders():
        (staged / "_internal" / "PySide6").mkdir(parents=True, exist_ok=True)
        (staged / "_internal" / "PySide6" / "Qt6Core.dll").write_bytes(b"MZ old")
        (staged / "VERSION").write_text("1.1.0")
        previous.mkdir(exist_ok=True)
        (previous / "journal").write_text("swap")

    leave_updater_folders()
    wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.2.0a1.msi"), "/qn")
    assert (program_files / "VERSION").read_text() == "1.2.0a1"
    assert wine.installed("HKLM") == [("Messenger", "1.2.0.101")]
    assert not staged.exists() and not previous.exists()

    wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.2.0.msi"), "/qn")
    assert wine.installed("HKLM") == [("Messenger", "1.2.0")]
    assert (program_files / "VERSION").read_text() == "1.2.0"
    assert not (program_files / "_internal" / "1.2.0a1.txt").exists()

    leave_updater_folders()
    back = wine.run("msiexec", "/i", str(tmp_path / "out" / "messenger-1.2.0a1.msi"), "/qn", check=False)
    assert back.returncode != 0, "the pre-release does not replace its final release"
    assert wine.installed("HKLM") == [("Messenger", "1.2.0")]
    assert (program_files / "VERSION").read_text() == "1.2.0"
    assert staged.is_dir(), "a refused install changes nothing"

    wine.run("msiexec", "/x", str(tmp_path / "out" / "messenger-1.2.0.msi"), "/qn")
    assert wine.installed("HKLM") == [] and not program_files.exists()
    assert not staged.exists() and not previous.exists()
    assert wine.values(MESSENGER_KEY) is None


def test_a_pre_releases_version_resource_comes_before_its_final_release(tmp_path):
    """The fourth number of a version resource, laid down by makensis and read back from the PE
    file: the programs' (spec/messenger.spec) come from the same installers.file_version."""
    build(stand_in_program(tmp_path / "program", "1.2.0a1", "new-only.txt"), "1.2.0a1", tmp_path / "out",
          "--only", "exe")
    assert file_version(tmp_path / "out" / "messenger-1.2.0a1-setup.exe") == "1.2.0.101"
    spec = (ROOT / "spec" / "messenger.spec").read_text(encoding="utf-8")
    assert "from installers import file_version" in spec and "file_version(release)" in spec


def test_exe_installs_for_the_user_without_admin_and_uninstalls_under_wine(wine, tmp_path):
    archive = tmp_path / "messenger-1.1.0.tar.gz"
    archive.write_bytes(b"stand-in update archive")
    build(stand_in_program(tmp_path / "program", "1.1.0", "new-only.txt"), "1.1.0", tmp_path / "out",
          "--only", "exe", "--archive", str(archive))
    setup = tmp_path / "out" / "messenger-1.1.0-setup.exe"
    assert setup.read_bytes()[:2] == b"MZ"
    assert icon_sizes(setup) == list(ICON_SIZES), "the program's icon, every size"
    assert file_version(setup) == "1.1.0.400", "a final release is the last of its three fields"
    # RequestExecutionLevel user: the manifest asks for no elevation.
    assert b'requestedExecutionLevel level="asInvoker"' in setup.read_bytes()

    [local_app_data] = [p for p in wine.drive_c.glob("users/*/AppData/Local") if p.parent.parent.name != "Public"]
    installed = local_app_data / "Programs" / "Messenger"
    # An update the client staged before (1.0.0): it must not replace what the installer brings.
    stale = installed.with_name("Messenger.update")
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "VERSION").write_text("1.0.0")

    wine.run(str(setup), "/S", f"/SERVER_URL={SERVER_URL}", f"/SERVER_FINGERPRINT={SERVER_FINGERPRINT}",
             "/UPDATE_CHANNEL=canary", "/START_AT_LOGIN=1")
    wine.wait()
    assert (installed / "messenger.exe").read_bytes() == b"MZ stand-in"
    assert (installed / "messenger-cli.exe").read_bytes() == b"MZ stand-in cli"
    assert not (installed / "managed-install").exists() and not stale.exists()
    assert (installed / "_internal" / "new-only.txt").is_file()
    # Where the updater looks for the installed release's archive (its data dir's updates/targets).
    assert (local_app_data / "messenger" / "updates" / "targets" / archive.name).read_bytes() == archive.read_bytes()
    presets = wine.values(r"HKCU\Software\Messenger")
    install_dir = presets.pop("InstallDir")
    assert install_dir.endswith(r"\AppData\Local\Programs\Messenger")
    # StartAtLogin: the client's preset for its setting, so its first start keeps the Run value.
    assert presets == {"ServerUrl": SERVER_URL, "UpdateChannel": "canary", "StartAtLogin": "0x1",
                       "ServerFingerprint": SERVER_FINGERPRINT}
    assert wine.values(rf"HKCU\{RUN_KEY}")["Messenger"] == f'"{install_dir}\\messenger.exe"'
    entry = wine.values(rf"HKCU\{UNINSTALL_KEY}\Messenger")
    assert (entry["DisplayVersion"], entry["QuietUninstallString"]) == ("1.1.0", f'"{install_dir}\\uninstall.exe" /S')
    assert wine.installed("HKLM") == [] and wine.values(MESSENGER_KEY) is None, "a per-user install writes no HKLM"
    assert len(wine.shortcuts()) == 1
    assert icon_sizes(installed / "uninstall.exe") == list(ICON_SIZES)

    # Over a running messenger-cli (Wine's cmd.exe as a stand-in: a running program's file cannot
    # be opened for writing, as on Windows): the silent setup waits for it to end, then installs.
    shutil.copyfile(wine_program("cmd.exe"), installed / "messenger-cli.exe")
    running = subprocess.Popen([tool("wine64"), f"{install_dir}\\messenger-cli.exe"], env=wine.env,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # started
        threading.Timer(10, running.stdin.close).start()  # cmd.exe ends at the end of its input
        started = time.monotonic()
        wine.run(str(setup), "/S")
        waited = time.monotonic() - started
    finally:
        running.wait(timeout=60)
    assert (installed / "messenger-cli.exe").read_bytes() == b"MZ stand-in cli"
    assert waited > 5, f"the setup did not wait for the running program ({waited:.1f} s)"
    assert wine.values(r"HKCU\Software\Messenger")["StartAtLogin"] == "0x1", "the start at login chosen before is kept"

    # What the client registers at its start: the program that opens a toast's room link.
    links = rf"HKCU\{PROTOCOLS_KEY}\{ROOM_LINK_SCHEME}"
    wine.run("reg", "add", rf"{links}\shell\open\command", "/ve", "/d", f'"{install_dir}\\messenger.exe" "%1"', "/f")
    wine.run(f"{install_dir}\\uninstall.exe", "/S")
    wine.wait()
    assert not installed.exists()
    assert wine.values(links) is None
    assert wine.values(rf"HKCU\{UNINSTALL_KEY}\Messenger") is None
    assert wine.values(r"HKCU\Software\Messenger") is None
    assert "Messenger" not in (wine.values(rf"HKCU\{RUN_KEY}") or {})
    assert wine.shortcuts() == []


def test_per_user_bootstrap_msi_installs_the_program_for_each_user_at_sign_in_under_wine(wine, tmp_path):
    """The machine-wide bootstrap (as Slack's and Teams'): IT deploys one MSI, and at each user's
    sign-in its Run value installs the self-updating per-user program for that user, once."""
    build(stand_in_program(tmp_path / "program", "1.2.0", "new-only.txt"), "1.2.0", tmp_path / "out",
          "--only", "per-user-msi")
    bootstrap = tmp_path / "out" / "messenger-1.2.0-per-user.msi"
    assert {row["FileName"] for row in msi_table(bootstrap, "File")} == {"messenger-setup.exe"}
    assert msi_table(bootstrap, "Shortcut") == [], "the per-user install makes the user's own shortcut"
    [local_app_data] = [p for p in wine.drive_c.glob("users/*/AppData/Local") if p.parent.parent.name != "Public"]
    installed = local_app_data / "Programs" / "Messenger"

    wine.run("msiexec", "/i", str(bootstrap), "/qn", f"SERVER_URL={SERVER_URL}", "START_AT_LOGIN=1")
    assert wine.installed("HKLM") == [], "the program itself is not installed for the machine"
    sign_in = wine.values(rf"HKLM\{RUN_KEY}")["MessengerPerUser"]
    assert sign_in == r'"C:\Program Files\Messenger Per-User Installer\messenger-setup.exe" /BOOTSTRAP /START_AT_LOGIN=1'
    assert wine.values(MESSENGER_KEY)["ServerUrl"] == SERVER_URL, "the users' installs read it as their preset"
    assert not installed.exists()

    def signs_in():
        """What Windows runs from the Run value when the user signs in."""
        program, options = sign_in[1:].split('" ', 1)
        wine.run(program, *options.split())
        wine.wait()

    signs_in()
    assert (installed / "messenger.exe").read_bytes() == b"MZ stand-in"
    assert not (installed / "managed-install").exists(), "per-user installs update themselves"
    assert wine.values(rf"HKCU\{RUN_KEY}")["Messenger"].endswith(r'\Programs\Messenger\messenger.exe"')
    assert wine.values(rf"HKCU\{UNINSTALL_KEY}\Messenger")["DisplayVersion"] == "1.2.0"

    (installed / "VERSION").write_text("1.3.0")  # as after a self-update: the next sign-in keeps it
    signs_in()
    assert (installed / "VERSION").read_text() == "1.3.0"
    wine.run(str(installed / "uninstall.exe"), "/S")
    wine.wait()
    signs_in()
    assert not installed.exists(), "a user who removed the program keeps it removed"

    # IT deploys the next bootstrap without START_AT_LOGIN: it keeps what the first one was given.
    build(stand_in_program(tmp_path / "next", "1.3.0", "new-only.txt"), "1.3.0", tmp_path / "out",
          "--only", "per-user-msi")
    bootstrap = tmp_path / "out" / "messenger-1.3.0-per-user.msi"
    log = tmp_path / "upgrade.log"
    wine.run("msiexec", "/i", str(bootstrap), "/qn", "/l*v", f"Z:{log}")
    # Read back from the registry, not left behind by Wine (which keeps values Windows would remove).
    assert "Property(S): START_AT_LOGIN = 1\n" in log.read_text(errors="replace")
    assert wine.values(rf"HKLM\{RUN_KEY}")["MessengerPerUser"] == sign_in

    wine.run("msiexec", "/x", str(bootstrap), "/qn")
    assert "MessengerPerUser" not in (wine.values(rf"HKLM\{RUN_KEY}") or {})
    assert not (wine.drive_c / "Program Files" / "Messenger Per-User Installer").exists()


def test_signed_installers_and_the_uninstaller_verify_under_wine(wine, tmp_path, certificate, monkeypatch):
    """build/installers.py --sign-pfx: osslsigncode signs the MSI and, through makensis' !finalize
    and !uninstfinalize, the setup EXE and the uninstaller it lays down."""
    pfx, pem = certificate
    monkeypatch.setenv("MESSENGER_SIGN_PASSWORD", SIGNING_PASSWORD)
    build(stand_in_program(tmp_path / "program", "1.1.0", "new-only.txt"), "1.1.0", tmp_path / "out",
          "--sign-pfx", str(pfx))

    def verified(file: Path) -> bool:
        done = subprocess.run([tool("osslsigncode"), "verify", "-CAfile", str(pem), "-in", str(file)],
                              capture_output=True, text=True)
        return done.returncode == 0 and "Messenger Test Signing" in done.stdout

    setup = tmp_path / "out" / "messenger-1.1.0-setup.exe"
    assert verified(tmp_path / "out" / "messenger-1.1.0.msi") and verified(setup)
    wine.run(str(setup), "/S")
    wine.wait()
    [uninstaller] = [p for p in wine.drive_c.glob("users/*/AppData/Local/Programs/Messenger/uninstall.exe")]
    assert verified(uninstaller)
    wine.run(str(uninstaller), "/S")
    wine.wait()
    assert not uninstaller.exists()
