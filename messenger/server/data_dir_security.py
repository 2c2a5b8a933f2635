"""The server's data folder belongs to the server: nobody else may write into it.

It holds the database, the TLS key, the secret key and `config.toml`, which the server loads: a
folder other users can write is a way to run the server with their settings. So before the
config is read, `secure_data_dir()`:

- Windows: creates a missing folder with an ACL for SYSTEM, Administrators and the account the
  server runs as (a service's account) only, inheritance from C:\\ProgramData removed (`icacls`);
  refuses a folder Users, Authenticated Users or Everyone can write to, naming the command that
  fixes it.
- Elsewhere: creates a missing folder with mode 0700 and refuses one that others can write to
  (the group may: with a umask of 002 it is the user's own group).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Protocol

SYSTEM, ADMINISTRATORS = "S-1-5-18", "S-1-5-32-544"
# Who must never write: the local Users group, every signed-in account, everyone.
WIDE_GROUPS = {"S-1-5-32-545": "Users", "S-1-5-11": "Authenticated Users", "S-1-1-0": "Everyone"}
EXIT_INSECURE = 78  # EX_CONFIG


class InsecureDataDir(Exception):
    code = "DATA_DIR_INSECURE"


def icacls_restrict(folder: Path, account_sid: str) -> list[str]:
    """The icacls command that leaves `folder` to SYSTEM, Administrators and `account_sid`
    (full control, inherited by everything inside), nothing inherited from its parent."""
    grants = [f"*{sid}:(OI)(CI)F" for sid in dict.fromkeys([SYSTEM, ADMINISTRATORS, account_sid])]
    return ["icacls", str(folder), "/inheritance:r", "/grant:r", *grants]


class Acl(Protocol):
    def account_sid(self) -> str: ...
    def restrict(self, folder: Path, account_sid: str) -> None: ...
    def can_write(self, folder: Path, sid: str) -> bool: ...


class WindowsAcl:
    """The Win32 boundary (icacls, whoami and advapi32 through ctypes); tests pass a fake."""

    def account_sid(self) -> str:
        """The SID of the account this process runs as (for a service: its service account)."""
        done = subprocess.run(["whoami", "/user", "/fo", "csv", "/nh"], capture_output=True, text=True, check=True)
        return done.stdout.strip().rsplit(",", 1)[1].strip().strip('"')

    def restrict(self, folder: Path, account_sid: str) -> None:
        subprocess.run(icacls_restrict(folder, account_sid), capture_output=True, text=True, check=True)

    def can_write(self, folder: Path, sid: str) -> bool:
        """Whether the folder's DACL lets `sid` add files, add folders or change the ACL."""
        if sys.platform != "win32":  # WinDLL is Windows' only (and mypy reads what follows for Windows only)
            raise OSError("folder ACLs are read on Windows only")
        import ctypes
        from ctypes import wintypes

        advapi32, kernel32 = ctypes.WinDLL("advapi32"), ctypes.WinDLL("kernel32")

        class TRUSTEE(ctypes.Structure):
            _fields_ = [("pMultipleTrustee", ctypes.c_void_p), ("MultipleTrusteeOperation", ctypes.c_int),
                        ("TrusteeForm", ctypes.c_int), ("TrusteeType", ctypes.c_int), ("ptstrName", ctypes.c_void_p)]

        SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, TRUSTEE_IS_SID = 1, 4, 0
        dacl, descriptor, sid_pointer = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        error = advapi32.GetNamedSecurityInfoW(ctypes.c_wchar_p(str(folder)), SE_FILE_OBJECT,
                                               DACL_SECURITY_INFORMATION, None, None, ctypes.byref(dacl), None,
                                               ctypes.byref(descriptor))
        if error:
            raise OSError(error, f"cannot read the permissions of {folder}")
        try:
            if not dacl.value:
                return True  # a NULL DACL lets everyone do everything
            if not advapi32.ConvertStringSidToSidW(ctypes.c_wchar_p(sid), ctypes.byref(sid_pointer)):
                raise OSError(ctypes.get_last_error(), f"bad SID {sid}")
            trustee = TRUSTEE(None, 0, TRUSTEE_IS_SID, 0, sid_pointer)
            rights = wintypes.DWORD()
            error = advapi32.GetEffectiveRightsFromAclW(dacl, ctypes.byref(trustee), ctypes.byref(rights))
            if error:
                raise OSError(error, f"cannot evaluate the permissions of {folder}")
            # FILE_ADD_FILE, FILE_ADD_SUBDIRECTORY, WRITE_DAC, WRITE_OWNER, GENERIC_ALL, GENERIC_WRITE
            return bool(rights.value & (0x2 | 0x4 | 0x40000 | 0x80000 | 0x10000000 | 0x40000000))
        finally:
            kernel32.LocalFree(sid_pointer)
            kernel32.LocalFree(descriptor)


def secure_data_dir(folder: Path, *, platform: str = sys.platform, acl: Acl | None = None) -> None:
    """Create the data folder for the server's account only, or refuse one others can write to
    (InsecureDataDir, whose message says how to fix it)."""
    folder = Path(folder)
    if platform != "win32":
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
            return
        mode = stat.S_IMODE(os.stat(folder).st_mode)
        if mode & 0o002:
            raise InsecureDataDir(f"the data folder {folder} can be written by other users (mode {mode:o}): "
                                  f"anyone could plant a config.toml. Fix it with: chmod o-w {folder}")
        return
    acl = acl or WindowsAcl()
    if not folder.exists():
        folder.mkdir(parents=True)
        acl.restrict(folder, acl.account_sid())
        return
    writers = [name for sid, name in WIDE_GROUPS.items() if acl.can_write(folder, sid)]
    if writers:
        fix = subprocess.list2cmdline(icacls_restrict(folder, acl.account_sid()))
        raise InsecureDataDir(f"the data folder {folder} can be written by {', '.join(writers)}: anyone could plant "
                              f"a config.toml or read the database. Fix it as an administrator with: {fix}")
