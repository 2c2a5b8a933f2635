"""The Windows service definition (WinSW) and firewall rule that `messenger-cli service` prints."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from messenger.server.windows_service import firewall_commands, service_arguments, winsw_definition

INSTALL = r"C:\Program Files\Messenger"
DATA = r"C:\ProgramData\messenger"


def test_the_winsw_definition_wraps_messenger_cli_serve_with_quoted_paths():
    service = ET.fromstring(winsw_definition(INSTALL, r"D:\Messenger Data", "0.0.0.0", 5443))
    assert service.findtext("id") == "messenger-server"
    assert service.findtext("executable") == r"C:\Program Files\Messenger\messenger-cli.exe"
    assert service.findtext("arguments") == '--serve --host 0.0.0.0 --port 5443 --data-dir "D:\\Messenger Data"'
    assert service.findtext("logpath") == r"D:\Messenger Data\logs"
    assert service.find("onfailure").get("action") == "restart"
    assert service.find("log").get("mode") == "roll-by-size"
    assert service.find("serviceaccount") is None  # LocalSystem: SYSTEM is in the data folder's ACL


def test_the_arguments_are_what_the_program_parses():
    from messenger.cli import build_parser

    args = build_parser().parse_args(service_arguments(DATA, "0.0.0.0", 5000))
    assert (args.serve, args.host, args.port, str(args.data_dir)) == (True, "0.0.0.0", 5000, DATA)


def test_the_firewall_rule_lets_clients_reach_this_program_only():
    delete, add = firewall_commands(INSTALL, 5443)
    assert delete == 'netsh advfirewall firewall delete rule name="Messenger server"'
    assert add == ('netsh advfirewall firewall add rule name="Messenger server" dir=in action=allow protocol=TCP '
                   'localport=5443 program="C:\\Program Files\\Messenger\\messenger-cli.exe" profile=domain,private')


def test_messenger_cli_service_prints_them():
    winsw = subprocess.run([sys.executable, "-m", "messenger", "service", "winsw", "--install-dir", INSTALL,
                            "--data-dir", DATA, "--port", "5001"], capture_output=True, text=True, timeout=60)
    assert winsw.returncode == 0, winsw.stderr
    assert "--port 5001" in ET.fromstring(winsw.stdout).findtext("arguments")
    firewall = subprocess.run([sys.executable, "-m", "messenger", "service", "firewall", "--install-dir", INSTALL],
                              capture_output=True, text=True, timeout=60)
    assert firewall.returncode == 0 and firewall.stdout.splitlines() == firewall_commands(INSTALL, 5000)
