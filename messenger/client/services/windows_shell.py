"""The client's identity in the Windows shell (taskbar grouping, toast notifications).

Windows routes a desktop program's notifications through the Start-menu shortcut whose
AppUserModelID matches the running process's. The installers give their shortcut
APP_USER_MODEL_ID (build/installers.py reads it from here); the client claims the same id at
start with `claim_app_user_model_id()`, before it creates any window or tray icon.
"""

from __future__ import annotations

import sys

APP_USER_MODEL_ID = "Office.Messenger"


def claim_app_user_model_id() -> bool:
    """Set this process's AppUserModelID on Windows; True if it was set (False elsewhere)."""
    if sys.platform != "win32":
        return False
    import ctypes

    result = ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(ctypes.c_wchar_p(APP_USER_MODEL_ID))
    return result == 0  # S_OK
