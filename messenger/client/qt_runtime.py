"""What the Qt client needs from a Linux system, and a check before Qt starts.

Qt aborts the process when it cannot load its platform plugin, with a message that names the
wrong library (it says libxcb-cursor0 when libxcb-icccm4 is the one missing). So the client
loads the plugin itself first and, when that fails, names the Debian/Ubuntu packages to
install. `build/system_packages.py` installs the same packages. No Qt widgets here.
"""

from __future__ import annotations

import ctypes
import os
import sys

# soname -> Debian/Ubuntu package, for every platform (offscreen included).
QT_LIBRARIES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libxcb.so.1": "libxcb1",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
}
# The desktop session's platform plugins: xcb (X11) and wayland.
X11_LIBRARIES = {
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
WAYLAND_LIBRARIES = {
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
# Korean names and messages render as boxes without a font that has Hangul (Nanum: 33 MB,
# a third of Noto CJK). Qt finds it through fontconfig.
KOREAN_FONT_PACKAGE = "fonts-nanum"
DESKTOP_PACKAGES = sorted({*QT_LIBRARIES.values(), *X11_LIBRARIES.values(), *WAYLAND_LIBRARIES.values(),
                           KOREAN_FONT_PACKAGE})


def loads(library: str) -> bool:
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def chosen_platform(environ=os.environ) -> str:
    """The platform plugin Qt will pick: QT_QPA_PLATFORM's first choice, else wayland on a
    Wayland session without X11, else xcb."""
    asked = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if asked:
        return asked
    if environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"):
        return "wayland"
    return "xcb"


def platform_problem(plugins_dir: str, environ=os.environ) -> str | None:
    """Why Qt could not start its platform on this Linux machine, in words that say what to do;
    None when it can (or on another system, where Qt's own plugins carry what they need)."""
    if not sys.platform.startswith("linux"):
        return None
    platform = chosen_platform(environ)
    if platform == "xcb" and not environ.get("DISPLAY"):
        return ("The desktop client needs a display, and this session has none (DISPLAY is not set). "
                "Run it on a desktop session, or on a virtual one: xvfb-run -a messenger")
    plugin = os.path.join(plugins_dir, "platforms", f"libq{platform}.so")
    if not os.path.exists(plugin):
        return None  # a plugin Qt does not ship: Qt's own message says more
    try:
        ctypes.CDLL(plugin)
    except OSError as error:
        wanted = {**QT_LIBRARIES, **(WAYLAND_LIBRARIES if platform == "wayland" else X11_LIBRARIES)}
        missing = sorted({package for library, package in wanted.items() if not loads(library)})
        if not missing:
            return f"Qt's {platform} platform plugin cannot be loaded: {error}"
        return (f"The desktop client cannot start: Qt's {platform} platform plugin needs system libraries "
                f"that are missing ({error}). Install them:\n"
                f"    sudo apt-get install {' '.join(missing)}")
    return None
