"""Build the Windows installers around the onedir program: `python build/installers.py`.

Writes dist/installers/messenger-<version>.msi (per-machine, from installer/messenger.wxs),
dist/installers/messenger-<version>-setup.exe (per-user, from installer/messenger.nsi) and
dist/installers/messenger-<version>-per-user.msi (per-machine bootstrap: the setup EXE, run for each
user at sign-in; the same .wxs with Bootstrap=yes). The MSIs are
compiled with WiX Toolset v4+ (`wix`) on Windows and with wixl (msitools) elsewhere; the EXE with
makensis. On Linux the payload is the Linux build: the installers then only prove that the
definitions build and hold the right tables (see installer/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the messenger package sits next to build/

from packaging.version import Version  # noqa: E402

from messenger import BUILT_VERSION_FILE, __version__  # noqa: E402
from messenger.client.services.updater import MANAGED_MARKER  # noqa: E402
from messenger.client.services.windows_shell import APP_USER_MODEL_ID  # noqa: E402
from messenger.programs import CONSOLE, DESKTOP  # noqa: E402

sys.path.insert(0, str(ROOT / "build"))
import app_icon  # noqa: E402
import sign  # noqa: E402

WXS = ROOT / "installer" / "messenger.wxs"
NSI = ROOT / "installer" / "messenger.nsi"
PAYLOAD = ROOT / "dist" / "messenger"
OUTPUT = ROOT / "dist" / "installers"
WORK = ROOT / "build" / "work" / "installers"
# The installed programs (messenger/programs.py) by the name a Linux build gives them: installed
# under the Windows name for the CI checks. The shortcut and the Run value start messenger.exe.
PROGRAMS = {f"{name}.exe": name for name in (DESKTOP, CONSOLE)}
MANAGED_MARKER_TEXT = "Installed by the Messenger MSI: IT updates this install; the client never updates itself here.\r\n"
WIX_NS = "http://schemas.microsoft.com/wix/2006/wi"
# Each never changes: it is how every later MSI of its kind finds and replaces the installed one.
PRODUCTS = {
    "program": {"ProductName": "Messenger", "InstallFolder": "Messenger", "Bootstrap": "no",
                "UpgradeCode": "44093f44-5af5-4035-9100-201f65289764"},
    "bootstrap": {"ProductName": "Messenger per-user installer", "InstallFolder": "Messenger Per-User Installer",
                  "Bootstrap": "yes", "UpgradeCode": "0c2b6b3e-8f4a-4d8e-a1c5-6f2d9e7b3a10"},
}
BOOTSTRAP_SETUP = "messenger-setup.exe"  # the setup EXE's name in the bootstrap's folder (messenger.wxs)
# A file keeps its component GUID from release to release (Windows Installer's component rules).
COMPONENT_NAMESPACE = uuid.UUID("f1761814-4ab2-49d5-9dc0-f8ee97abcdcd")
PRE_RELEASE_BASE = {"a": 100, "b": 200, "rc": 300}
FINAL_RELEASE_ORDER = 400  # after every a/b/rc of the same three fields
# The WiX compiler sets 512 (VersionMaxInclusive) for AllowSameVersionUpgrades, plus 1 (MigrateFeatures).
SAME_VERSION_UPGRADE = 513


def msi_version(version: str) -> str:
    """The MSI ProductVersion for a PEP 440 release: numbers only (major and minor up to 255,
    patch up to 65535). A final release keeps its three fields (1.2.0 -> 1.2.0). A pre-release adds
    its release order as a fourth (1.2.0a1 -> 1.2.0.101, 1.2.0b2 -> 1.2.0.202, 1.2.0rc1 ->
    1.2.0.301): Windows compares only three fields, so the MSI orders releases that share them
    by `release_order` (see installer/messenger.wxs)."""
    parsed = Version(version)
    if parsed.dev is not None or parsed.post is not None or parsed.local or parsed.epoch:
        raise ValueError(f"{version}: only final releases and a/b/rc pre-releases get an MSI")
    major, minor, patch = (list(parsed.release) + [0, 0])[:3]
    if len(parsed.release) > 3 or major > 255 or minor > 255 or patch > 65535:
        raise ValueError(f"{version}: an MSI version is major.minor.patch up to 255.255.65535")
    fields = [major, minor, patch]
    if parsed.pre:
        fields.append(release_order(version))
    return ".".join(map(str, fields))


def release_order(version: str) -> int:
    """Where a release stands among those sharing its three fields: a1..a99 = 101..199, b = 2xx,
    rc = 3xx, the final release 400."""
    parsed = Version(version)
    if not parsed.pre:
        return FINAL_RELEASE_ORDER
    stage, number = parsed.pre
    if number > 99:
        raise ValueError(f"{version}: pre-release numbers go up to 99")
    return PRE_RELEASE_BASE[stage] + number


def file_version(version: str) -> str:
    """The four numbers of the version resource of the programs (spec/messenger.spec) and the setup
    EXE, in release order (1.2.0a1 -> 1.2.0.101, 1.2.0 -> 1.2.0.400)."""
    return ".".join(msi_version(version).split(".")[:3] + [str(release_order(version))])


def payload_version(payload: Path) -> str:
    """The release the payload was built as (build/build.py --version), else the sources' version."""
    built = payload / "_internal" / "messenger" / BUILT_VERSION_FILE
    return built.read_text(encoding="utf-8").strip() if built.is_file() else __version__


def program_sources(payload: Path) -> dict[str, Path]:
    """The payload's programs by installed name: messenger.exe and messenger-cli.exe, or a Linux
    build's messenger and messenger-cli."""
    found = {}
    for installed, linux in PROGRAMS.items():
        for name in (installed, linux):
            if (payload / name).is_file():
                found[installed] = payload / name
                break
        else:
            raise FileNotFoundError(f"no {installed} (or {linux}) in {payload}")
    return found


def _id(kind: str, relative: str) -> str:
    return f"{kind}_{hashlib.sha1(relative.encode()).hexdigest()}"


def harvest(payload: Path | None, sources_from: Path | None = None, extra: dict[str, Path] | None = None) -> str:
    """A WiX fragment with a Directory/Component/File for every file under `payload` (below
    INSTALLDIR, all in ComponentGroup "ProgramFiles"), one file per component as its key path,
    plus the `extra` files by installed name (`payload` None: only those). File sources are
    absolute, or relative to `sources_from` (wixl takes only relative ones)."""
    programs = {source: installed for installed, source in program_sources(payload).items()} if payload else {}
    file_ids = {f"{DESKTOP}.exe": "MessengerExe", f"{CONSOLE}.exe": "MessengerCliExe"}
    refs = []

    def source(entry: Path) -> str:
        path = entry.resolve()
        return os.path.relpath(path, sources_from) if sources_from else str(path)

    def folder(path: Path, indent: str) -> list[str]:
        lines = []
        for entry in sorted(path.iterdir(), key=lambda p: p.name):
            relative = entry.relative_to(payload).as_posix()
            if entry.is_dir() and not entry.is_symlink():
                inner = folder(entry, indent + "  ")
                if inner:
                    lines.append(f'{indent}<Directory Id="{_id("dir", relative)}" Name="{_xml(entry.name)}">')
                    lines += inner + [f"{indent}</Directory>"]
            elif entry.is_file():
                name, file_id = entry.name, _id("fil", relative)
                if entry in programs:
                    name = relative = programs[entry]
                    file_id = file_ids[name]
                lines += component(indent, relative, file_id, name, entry)
        return lines

    def component(indent: str, relative: str, file_id: str, name: str, entry: Path) -> list[str]:
        refs.append(_id("cmp", relative))
        return [f'{indent}<Component Id="{refs[-1]}" Guid="{uuid.uuid5(COMPONENT_NAMESPACE, relative)}" Win64="yes">',
                f'{indent}  <File Id="{file_id}" Name="{_xml(name)}" Source="{_xml(source(entry))}" KeyPath="yes"/>',
                f"{indent}</Component>"]

    tree = folder(payload, "      ") if payload else []
    for name, entry in (extra or {}).items():
        tree += component("      ", name, _id("fil", name), name, entry)
    return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', f'<Wix xmlns="{WIX_NS}">', "  <Fragment>",
                      '    <DirectoryRef Id="INSTALLDIR">', *tree, "    </DirectoryRef>",
                      '    <ComponentGroup Id="ProgramFiles">',
                      *[f'      <ComponentRef Id="{ref}"/>' for ref in refs],
                      "    </ComponentGroup>", "  </Fragment>", "</Wix>", ""])


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    if shutil.which(command[0]) is None:
        raise RuntimeError(f"{command[0]} is missing: on Debian/Ubuntu run `python3 build/system_packages.py test` "
                           "as root, or apt-get install wixl msitools nsis")
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


# Tables wixl cannot write, in msitools' text form (IDT): column names, types, table name and key.
SHORTCUT_PROPERTY_TABLE = ["MsiShortcutProperty\tShortcut_\tPropertyKey\tPropVariantValue",
                           "s72\ts72\ts255\ts255", "MsiShortcutProperty\tMsiShortcutProperty"]


# Custom action type bits: an EXE run in a directory (34), its exit code ignored, deferred (in the
# install script), without impersonation (as the installing service, for Program Files).
EXE_IN_DIRECTORY, CONTINUE, IN_SCRIPT, NO_IMPERSONATE = 34, 0x40, 0x400, 0x800


def _for_wixl(source: Path, defines: dict[str, str]) -> tuple[str, dict]:
    """messenger.wxs without what wixl 0.101 rejects or drops (component conditions, shortcut
    properties, same-version upgrades, secure properties, custom actions that run a command in a
    directory), and per table the rows to put into its MSI afterwards:
    {table: (header or None for a table wixl wrote, edit(columns, rows))}."""
    ET.register_namespace("", WIX_NS)
    # Keeping the preprocessor's <?if?> instructions, which wixl reads.
    tree = ET.parse(source, ET.XMLParser(target=ET.TreeBuilder(insert_pis=True)))
    ns = {"w": WIX_NS}
    conditions, shortcut_properties, same_version_upgrades = {}, [], False
    for component in tree.iterfind(".//w:Component", ns):
        for condition in component.findall("w:Condition", ns):
            conditions[component.get("Id")] = condition.text.strip()
            component.remove(condition)
    for shortcut in tree.iterfind(".//w:Shortcut", ns):
        for prop in shortcut.findall("w:ShortcutProperty", ns):
            value = re.sub(r"\$\(var\.(\w+)\)", lambda m: defines[m.group(1)], prop.get("Value"))
            shortcut_properties.append([f"{shortcut.get('Id')}{len(shortcut_properties)}", shortcut.get("Id"),
                                        prop.get("Key"), value])
            shortcut.remove(prop)
    for upgrade in tree.iterfind(".//w:MajorUpgrade", ns):
        same_version_upgrades = upgrade.attrib.pop("AllowSameVersionUpgrades", "no") == "yes"
    secure = [prop.get("Id") for prop in tree.iterfind(".//w:Property[@Secure='yes']", ns)]
    commands = []
    for parent in tree.iterfind(".//w:CustomAction[@ExeCommand]/..", ns):
        for action in parent.findall("w:CustomAction[@ExeCommand]", ns):
            if (action.get("Execute"), action.get("Impersonate"), action.get("Return")) != ("deferred", "no", "ignore"):
                raise ValueError(f"custom action {action.get('Id')}: only deferred, not impersonated, "
                                 "exit code ignored commands are written for wixl")
            commands.append([action.get("Id"), str(EXE_IN_DIRECTORY | CONTINUE | IN_SCRIPT | NO_IMPERSONATE),
                             action.get("Directory"), action.get("ExeCommand"), ""])
            parent.remove(action)

    def set_conditions(columns, rows):
        for row in rows:
            if row[0] in conditions:
                row[columns.index("Condition")] = conditions[row[0]]

    def include_same_version(columns, rows):
        for row in rows:
            if row[columns.index("ActionProperty")] == "WIX_UPGRADE_DETECTED":
                row[columns.index("Attributes")] = str(SAME_VERSION_UPGRADE)

    def add_secure(columns, rows):
        for row in rows:
            if row[0] == "SecureCustomProperties":
                row[1] = ";".join(sorted(set(row[1].split(";")) | set(secure)))

    patches = {"Component": (None, set_conditions), "Property": (None, add_secure)}
    if commands:
        patches["CustomAction"] = (None, lambda columns, rows: rows.extend(commands))
    if shortcut_properties and defines["Bootstrap"] == "no":  # the bootstrap MSI has no shortcut
        patches["MsiShortcutProperty"] = (SHORTCUT_PROPERTY_TABLE, lambda columns, rows: rows.extend(shortcut_properties))
    if same_version_upgrades:
        patches["Upgrade"] = (None, include_same_version)
    return ET.tostring(tree.getroot(), encoding="unicode"), patches


def _patch_table(msi: Path, work: Path, table: str, header: list[str] | None, edit) -> None:
    """Rewrite one table of `msi` through its IDT text: exported (unless `header` starts it
    anew), changed by `edit(columns, rows)`, imported back over it."""
    if header is None:
        lines = _run(["msiinfo", "export", str(msi), table]).stdout.splitlines()
        header, rows = lines[:3], [line.split("\t") for line in lines[3:] if line]
    else:
        rows = []
    edit(header[0].split("\t"), rows)
    idt = work / f"{table}.idt"
    idt.write_text("".join(line + "\r\n" for line in header + ["\t".join(row) for row in rows]), encoding="utf-8")
    _run(["msibuild", str(msi), "-i", str(idt)])


def build_msi(payload: Path, version: str, output: Path, work: Path, icon: Path,
              signer: sign.Signer | None = None, bootstrap_of: Path | None = None) -> Path:
    """Compile the MSI for `payload` with WiX on Windows, wixl elsewhere; signed by `signer`.
    `icon` is a file in `work` (wixl takes sources relative to the .wxs only). With
    `bootstrap_of` (a setup EXE), the per-user bootstrap MSI that lays it down instead."""
    product = PRODUCTS["bootstrap" if bootstrap_of else "program"]
    defines = {**product, "Version": msi_version(version), "Version3": ".".join(msi_version(version).split(".")[:3]),
               "ReleaseOrder": str(release_order(version)), "PackageVersion": str(Version(version)),
               "AppUserModelId": APP_USER_MODEL_ID,
               "IconFile": str(icon) if sys.platform == "win32" else icon.relative_to(work).as_posix()}
    msi = output / f"messenger-{Version(version)}{'-per-user' if bootstrap_of else ''}.msi"
    files = work / "files.wxs"
    if bootstrap_of:
        # Per-user installs update themselves: no managed-install marker.
        contents, extra = None, {BOOTSTRAP_SETUP: bootstrap_of}
    else:
        # The marker that tells the client IT manages this install (messenger/client/services/updater.py).
        marker = work / MANAGED_MARKER
        marker.write_text(MANAGED_MARKER_TEXT, encoding="utf-8")
        contents, extra = payload, {MANAGED_MARKER: marker}
    files.write_text(harvest(contents, None if sys.platform == "win32" else work, extra), encoding="utf-8")
    if sys.platform == "win32":
        # WiX v4+ reads v3 sources only after converting them (in place, so on copies).
        sources = [shutil.copy(WXS, work / "messenger.wxs"), files]
        for source in sources:
            subprocess.run(["wix", "convert", str(source)], capture_output=True)  # exits non-zero when it converted
        built = work / msi.name
        _run(["wix", "build", "-arch", "x64", *[arg for k, v in defines.items() for arg in ("-d", f"{k}={v}")],
              "-o", str(built), *map(str, sources)])
        if signer:
            signer.sign([built])
        shutil.move(built, msi)
        return msi
    text, patches = _for_wixl(WXS, defines)
    main_source, built = work / "messenger.wxs", work / msi.name
    main_source.write_text(text, encoding="utf-8")
    _run(["wixl", "-a", "x64", *[arg for k, v in defines.items() for arg in ("-D", f"{k}={v}")], "-o", str(built),
          str(main_source), str(files)])
    for table, (header, edit) in patches.items():
        _patch_table(built, work, table, header, edit)
    if signer:
        signer.sign([built])  # last: a table written after would break the signature
    shutil.move(built, msi)  # only a finished MSI reaches the output folder
    return msi


def sign_command(signer: sign.Signer) -> str:
    """The command makensis runs on the setup EXE and on its uninstaller (%1) to sign them."""
    options = ["--sign-password-env", signer.password_env]
    options += ["--sign-pfx", str(Path(signer.pfx).resolve())] if signer.pfx else ["--sign-thumbprint", signer.thumbprint]
    if signer.timestamp_url:
        options += ["--timestamp-url", signer.timestamp_url]
    return subprocess.list2cmdline([sys.executable, str(ROOT / "build" / "sign.py"), "%1", *options])


def build_exe(payload: Path, version: str, output: Path, archive: Path | None, target: str, icon: Path,
              signer: sign.Signer | None = None) -> Path:
    """Compile the per-user setup EXE with makensis; it and its uninstaller signed by `signer`."""
    exe = output / f"messenger-{Version(version)}-setup.exe"
    sources = program_sources(payload)
    defines = {"VERSION": str(Version(version)), "FILE_VERSION": file_version(version),
               "PAYLOAD": str(payload), "PROGRAM_SOURCE": sources[f"{DESKTOP}.exe"].name,
               "CLI_SOURCE": sources[f"{CONSOLE}.exe"].name, "OUTFILE": str(exe), "TARGET": target,
               "APP_USER_MODEL_ID": APP_USER_MODEL_ID, "ICON": str(icon)}
    if archive:
        defines["ARCHIVE"] = str(archive)
    if signer:
        defines["SIGN_COMMAND"] = sign_command(signer)
    _run(["makensis", "-V2", "-INPUTCHARSET", "UTF8", *[f"-D{k}={v}" for k, v in defines.items()], str(NSI)])
    return exe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build/installers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="the release, PEP 440 (default: the one the payload was built as)")
    parser.add_argument("--payload", type=Path, default=PAYLOAD, help="the onedir program folder (default: dist/messenger)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the installers go (default: dist/installers)")
    parser.add_argument("--archive", type=Path,
                        help="the published update archive of this version (messenger-<version>.tar.gz): the EXE "
                             "lays it down so the first update can be a patch")
    parser.add_argument("--nsis-target", default="amd64-unicode",
                        help="makensis Target (default %(default)s; the Windows NSIS package has x86-unicode only)")
    parser.add_argument("--only", choices=["msi", "exe", "per-user-msi"],
                        help="build just one of them (per-user-msi builds the setup EXE it carries too)")
    sign.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        signer = sign.signer_from(args)
    except sign.SigningError as exc:
        parser.error(str(exc))
    args.version = args.version or payload_version(args.payload)
    try:
        msi_version(args.version)
        program_sources(args.payload)
    except (ValueError, FileNotFoundError) as exc:
        print(f"installers not built: {exc}", file=sys.stderr)
        return 2
    if args.archive and args.archive.name != f"messenger-{Version(args.version)}.tar.gz":
        print(f"installers not built: the archive of {args.version} is messenger-{Version(args.version)}.tar.gz, "
              f"not {args.archive.name}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    work = WORK / str(os.getpid())
    work.mkdir(parents=True, exist_ok=True)
    try:
        built = []
        icon = app_icon.write_ico(work / "messenger.ico")
        if args.only in (None, "msi"):
            built.append(build_msi(args.payload.resolve(), args.version, args.output.resolve(), work, icon, signer))
        if args.only in (None, "exe", "per-user-msi"):
            built.append(build_exe(args.payload.resolve(), args.version, args.output.resolve(),
                                   args.archive and args.archive.resolve(), args.nsis_target, icon, signer))
        if args.only in (None, "per-user-msi"):
            built.append(build_msi(args.payload.resolve(), args.version, args.output.resolve(), work, icon, signer,
                                   bootstrap_of=built[-1]))
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"installers not built: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for path in built:
        print(f"built {path} ({path.stat().st_size / 2**20:.1f} MiB, {'signed' if signer else 'unsigned'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
