"""Authenticode signing (build/sign.py): osslsigncode with a self-made certificate signs a real PE
program here (the installers: tests/build/test_installers.py); the signtool command line for Windows is checked as written."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SIGNING_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SIGN_SCRIPT = ROOT / "build" / "sign.py"

_spec = importlib.util.spec_from_file_location("messenger_sign", SIGN_SCRIPT)
sign = sys.modules["messenger_sign"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(sign)


def pe_program(folder: Path) -> Path:
    """A real 64-bit Windows program (Wine's own cmd.exe)."""
    found = list(Path("/usr/lib").glob("*/wine/x86_64-windows/cmd.exe"))
    assert found, "no Wine cmd.exe: install wine64 (python3 build/system_packages.py test)"
    return Path(shutil.copyfile(found[0], folder / "messenger-cli.exe"))


def verify(file: Path, pem: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["osslsigncode", "verify", "-CAfile", str(pem), "-in", str(file)],
                          capture_output=True, text=True)


def test_a_program_is_signed_in_place_and_verifies_until_tampered_with(certificate, tmp_path, monkeypatch):
    pfx, pem = certificate
    program = pe_program(tmp_path)
    assert verify(program, pem).returncode != 0, "not signed before"
    done = subprocess.run([sys.executable, str(SIGN_SCRIPT), str(program), "--sign-pfx", str(pfx)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", sign.PASSWORD_ENV: SIGNING_PASSWORD})
    assert done.returncode == 0, done.stderr
    checked = verify(program, pem)
    assert checked.returncode == 0 and "Signature verification: ok" in checked.stdout, checked.stdout + checked.stderr
    assert "Messenger Test Signing" in checked.stdout
    assert not Path(f"{program}.signed").exists()

    data = bytearray(program.read_bytes())
    data[len(data) // 2] ^= 0xFF
    program.write_bytes(bytes(data))
    assert verify(program, pem).returncode != 0, "a changed byte breaks the signature"


def test_a_wrong_password_or_no_certificate_is_a_clear_error(certificate, tmp_path, monkeypatch):
    pfx, _ = certificate
    program = pe_program(tmp_path)
    monkeypatch.setenv(sign.PASSWORD_ENV, "wrong")
    with pytest.raises(sign.SigningError, match="could not sign"):
        sign.Signer(pfx).sign([program])
    with pytest.raises(sign.SigningError, match="no certificate file"):
        sign.Signer(tmp_path / "missing.pfx")
    with pytest.raises(sign.SigningError, match="either"):
        sign.Signer()
    with pytest.raises(sign.SigningError, match="signtool"):
        sign.Signer(thumbprint="AB" * 20).commands(program, platform="linux")


def test_signtool_gets_sha256_the_certificate_and_an_rfc3161_timestamp(certificate, monkeypatch):
    pfx, _ = certificate
    monkeypatch.setenv("SIGN_PW", "secret")
    by_file = sign.Signer(pfx, timestamp_url="http://timestamp.example", password_env="SIGN_PW")
    assert by_file.commands(Path("C:/b/messenger.exe"), platform="win32") == [[
        "signtool", "sign", "/fd", "SHA256", "/f", str(pfx), "/p", "secret",
        "/tr", "http://timestamp.example", "/td", "SHA256", str(Path("C:/b/messenger.exe"))]]
    by_store = sign.Signer(thumbprint="ab" * 20)
    assert by_store.commands(Path("x.msi"), platform="win32") == [
        ["signtool", "sign", "/fd", "SHA256", "/sha1", "ab" * 20, "x.msi"]]
    monkeypatch.setenv(sign.PASSWORD_ENV, SIGNING_PASSWORD)
    assert sign.Signer(pfx).describe() == "O=Office,CN=Messenger Test Signing"
