"""The server as a Windows service: a WinSW definition wrapping `messenger-cli --serve`, and the
firewall rule a service needs (Windows asks nobody when a service opens a port: it is blocked).

`messenger-cli service winsw > messenger-server.xml` next to WinSW's executable renamed
`messenger-server.exe`, then `messenger-server.exe install` and `start`; `messenger-cli service
firewall` prints the `netsh advfirewall` commands that let clients in (installer/README.md).
WinSW stops the service with Ctrl+C, which `--serve` takes as a clean stop.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path, PureWindowsPath

from messenger.programs import CONSOLE

SERVICE_ID = "messenger-server"
FIREWALL_RULE = "Messenger server"


def service_arguments(data_dir: Path, host: str, port: int) -> list[str]:
    return ["--serve", "--host", host, "--port", str(port), "--data-dir", str(data_dir)]


def winsw_definition(install_dir: Path, data_dir: Path, host: str = "0.0.0.0", port: int = 5000) -> str:
    """The WinSW XML for `install_dir`'s messenger-cli.exe serving from `data_dir`. The service
    runs as LocalSystem (WinSW's default), which the data folder's ACL grants (SYSTEM)."""
    service = ET.Element("service")
    for tag, text in (("id", SERVICE_ID), ("name", "Messenger server"),
                      ("description", "Office messenger server (messenger-cli --serve)"),
                      ("executable", str(PureWindowsPath(install_dir) / f"{CONSOLE}.exe")),
                      ("arguments", subprocess.list2cmdline(service_arguments(data_dir, host, port))),
                      ("workingdirectory", str(data_dir)), ("startmode", "Automatic"),
                      ("stoptimeout", "20 sec"), ("logpath", str(PureWindowsPath(data_dir) / "logs"))):
        ET.SubElement(service, tag).text = text
    ET.SubElement(service, "onfailure", action="restart", delay="10 sec")
    log = ET.SubElement(service, "log", mode="roll-by-size")
    ET.SubElement(log, "sizeThreshold").text = "10240"
    ET.SubElement(log, "keepFiles").text = "8"
    ET.indent(service)
    return ET.tostring(service, encoding="unicode") + "\n"


def firewall_commands(install_dir: Path, port: int = 5000) -> list[str]:
    """netsh lines (run as an administrator) that let clients reach the service on `port`, for
    this program only, on domain and private networks; the first removes an older rule."""
    program = PureWindowsPath(install_dir) / f"{CONSOLE}.exe"
    return [
        f'netsh advfirewall firewall delete rule name="{FIREWALL_RULE}"',
        f'netsh advfirewall firewall add rule name="{FIREWALL_RULE}" dir=in action=allow protocol=TCP '
        f'localport={port} program="{program}" profile=domain,private',
    ]


def add_service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    service = commands.add_parser("service", help="print what runs the server as a Windows service (WinSW) "
                                                  "and its firewall rule")
    kinds = service.add_subparsers(dest="service_command", required=True)
    for name, text in (("winsw", "the WinSW XML (save it as messenger-server.xml beside WinSW)"),
                       ("firewall", "the netsh advfirewall commands")):
        kind = kinds.add_parser(name, help=text)
        kind.add_argument("--install-dir", type=Path, default=None,
                          help="the program folder (default: this program's)")
        kind.add_argument("--port", type=int, dest="service_port", default=5000)
        if name == "winsw":
            kind.add_argument("--host", dest="service_host", default="0.0.0.0")
            kind.add_argument("--data-dir", type=Path, dest="service_data_dir",
                              help="the server's data folder (default: the platform's)")


def run_service(args: argparse.Namespace) -> int:
    install_dir = args.install_dir or Path(sys.executable).parent
    if args.service_command == "firewall":
        print("\n".join(firewall_commands(install_dir, args.service_port)))
        return 0
    from messenger.server.config import data_dir_for

    data_dir = args.service_data_dir or data_dir_for({})
    print(winsw_definition(install_dir, data_dir, args.service_host, args.service_port), end="")
    return 0
