"""Authenticode-sign Windows files: `python build/sign.py FILE... (--pfx F | --thumbprint SHA1) [--timestamp-url URL]`.

On Windows with signtool (the certificate from a .pfx file, or from the certificate store by its
SHA-1 thumbprint, e.g. a token's or a cloud HSM's), elsewhere with osslsigncode (a .pfx only;
Debian package `osslsigncode`), so the step can be tested on Linux with a self-made certificate.
SHA-256 file digests, and an RFC 3161 timestamp when --timestamp-url is given: without one a
signature stops verifying when the certificate expires, so release builds always pass it.
The .pfx password comes from the environment variable named by --password-env (default
MESSENGER_SIGN_PASSWORD), never from the command line. build/build.py --sign-pfx/--sign-thumbprint
and build/installers.py take the same options and call this module.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PASSWORD_ENV = "MESSENGER_SIGN_PASSWORD"
SIGNED_MARKER = "SIGNED"  # in _internal/messenger/: who signed the programs, for `--version`


class SigningError(RuntimeError):
    pass


@dataclass(frozen=True)
class Signer:
    """A certificate to sign with: a .pfx (`pfx`) or a thumbprint in the Windows store."""

    pfx: Path | None = None
    thumbprint: str | None = None
    timestamp_url: str | None = None
    password_env: str = PASSWORD_ENV

    def __post_init__(self):
        if (self.pfx is None) == (self.thumbprint is None):
            raise SigningError("sign with either a .pfx file or a certificate thumbprint")
        if self.pfx is not None and not Path(self.pfx).is_file():
            raise SigningError(f"no certificate file {self.pfx}")

    @property
    def password(self) -> str:
        return os.environ.get(self.password_env, "")

    def describe(self) -> str:
        """Who signs: the certificate's subject (from the .pfx) or its thumbprint."""
        if self.thumbprint:
            return f"certificate {self.thumbprint.upper()}"
        from cryptography.hazmat.primitives.serialization import pkcs12

        _, certificate, _ = pkcs12.load_key_and_certificates(Path(self.pfx).read_bytes(),
                                                             self.password.encode() or None)
        return certificate.subject.rfc4514_string()

    def commands(self, file: Path, platform: str = sys.platform) -> list[list[str]]:
        """The commands that sign `file` in place."""
        if platform == "win32":
            command = ["signtool", "sign", "/fd", "SHA256"]
            command += ["/f", str(self.pfx), "/p", self.password] if self.pfx else ["/sha1", self.thumbprint]
            if self.timestamp_url:
                command += ["/tr", self.timestamp_url, "/td", "SHA256"]
            return [command + [str(file)]]
        if self.pfx is None:
            raise SigningError("a certificate thumbprint needs signtool (Windows); pass --pfx elsewhere")
        signed = Path(f"{file}.signed")
        command = ["osslsigncode", "sign", "-pkcs12", str(self.pfx), "-pass", self.password, "-h", "sha256"]
        if self.timestamp_url:
            command += ["-ts", self.timestamp_url]
        return [command + ["-in", str(file), "-out", str(signed)]]

    def sign(self, files: list[Path]) -> None:
        for file in files:
            for command in self.commands(Path(file)):
                if shutil.which(command[0]) is None:
                    raise SigningError(f"{command[0]} is missing (Windows SDK signtool; on Debian: apt-get install "
                                       "osslsigncode)")
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SigningError(f"{command[0]} could not sign {file}:\n{done.stdout}\n{done.stderr}")
            signed = Path(f"{file}.signed")
            if signed.exists():  # osslsigncode writes a new file
                os.replace(signed, file)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The signing options of build/build.py, build/installers.py and this script."""
    group = parser.add_argument_group("Authenticode signing (build/sign.py)")
    group.add_argument("--sign-pfx", type=Path, metavar="PFX", help="sign with this .pfx (password in "
                       f"${PASSWORD_ENV} or the variable named by --sign-password-env)")
    group.add_argument("--sign-thumbprint", metavar="SHA1", help="sign with this certificate from the Windows "
                       "store (signtool only)")
    group.add_argument("--sign-password-env", default=PASSWORD_ENV, metavar="VAR",
                       help="the environment variable holding the .pfx password (default %(default)s)")
    group.add_argument("--timestamp-url", metavar="URL", help="RFC 3161 timestamp server (release builds: always)")


def signer_from(args) -> Signer | None:
    """The Signer the parsed options ask for, None when they ask for no signing."""
    if args.sign_pfx is None and args.sign_thumbprint is None:
        return None
    return Signer(args.sign_pfx, args.sign_thumbprint, args.timestamp_url, args.sign_password_env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build/sign.py", description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        signer = signer_from(args)
        if signer is None:
            parser.error("--sign-pfx or --sign-thumbprint is required")
        signer.sign(args.files)
    except SigningError as exc:
        print(f"not signed: {exc}", file=sys.stderr)
        return 1
    for file in args.files:
        print(f"signed {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
