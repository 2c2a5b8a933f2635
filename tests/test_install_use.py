"""Processes of one install folder (messenger/install_use.py): real flocks between processes
here, and the Windows named-mutex logic against a fake kernel32 that keeps named objects."""

import subprocess
import sys

from messenger.install_use import InstallUse, mutex_name


class FakeKernel:
    """Named mutexes shared by the processes of one machine: handles, an owner, existence."""

    def __init__(self):
        self.handles: dict[int, str] = {}
        self.owner: dict[str, int] = {}
        self.next = 1
        self.denied: set[str] = set()

    def for_process(self):
        return FakeMutexes(self)


class FakeMutexes:
    def __init__(self, kernel: FakeKernel):
        self.kernel = kernel

    def create(self, name, owned):
        if name in self.kernel.denied:
            return None, True  # a service's mutex: access denied
        existed = name in self.kernel.handles.values()
        handle, self.kernel.next = self.kernel.next, self.kernel.next + 1
        self.kernel.handles[handle] = name
        if owned and not existed:
            self.kernel.owner[name] = handle
        return handle, existed

    def wait(self, handle, seconds):
        name = self.kernel.handles[handle]
        if self.kernel.owner.get(name) not in (None, handle):
            return False  # a real wait would block for `seconds`
        self.kernel.owner[name] = handle
        return True

    def release(self, handle):
        name = self.kernel.handles[handle]
        assert self.kernel.owner.get(name) == handle, "released a mutex it did not own"
        del self.kernel.owner[name]

    def close(self, handle):
        del self.kernel.handles[handle]


def test_windows_an_update_is_applied_only_by_the_only_process_of_the_install(tmp_path):
    kernel = FakeKernel()
    tray = InstallUse(tmp_path, platform="win32", mutexes=kernel.for_process())
    tray.hold()
    with tray.alone() as alone:
        assert alone and kernel.owner  # owned while swapping: a process starting now waits
        starting = InstallUse(tmp_path, platform="win32", mutexes=kernel.for_process())
        starting.hold(wait_seconds=0)  # its wait times out: the swap still owns the mutex
        assert kernel.owner[mutex_name(tmp_path)] != starting._handle
    assert not kernel.owner
    starting.close()

    server = InstallUse(tmp_path, platform="win32", mutexes=kernel.for_process())
    server.hold()  # `messenger-cli --serve` from the same folder
    with tray.alone() as alone:
        assert not alone and not kernel.owner
    server.close()
    with tray.alone() as alone:
        assert alone
    other_folder = InstallUse(tmp_path / "other", platform="win32", mutexes=kernel.for_process())
    with other_folder.alone() as alone:
        assert alone  # another install's processes do not count


def test_windows_a_mutex_it_may_not_open_means_another_process():
    kernel = FakeKernel()
    kernel.denied.add(mutex_name("C:/Program Files/Messenger"))
    use = InstallUse("C:/Program Files/Messenger", platform="win32", mutexes=kernel.for_process())
    use.hold()
    with use.alone() as alone:
        assert not alone


def test_one_name_per_folder_whatever_its_spelling(tmp_path):
    assert mutex_name(tmp_path) == mutex_name(tmp_path / "x" / "..")
    assert mutex_name(tmp_path).startswith("Global\\messenger-install-")
    assert mutex_name(tmp_path) != mutex_name(tmp_path / "x")


def test_posix_another_process_holding_the_folder_keeps_the_applier_waiting(tmp_path):
    mine = InstallUse(tmp_path)
    mine.hold()
    with mine.alone() as alone:
        assert alone
    other = subprocess.Popen([sys.executable, "-c", (
        "import sys; from messenger.install_use import hold; hold(sys.argv[1]); print('holding', flush=True); "
        "sys.stdin.readline()"), str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "holding"
        with mine.alone() as alone:
            assert not alone
    finally:
        other.communicate("\n", timeout=30)
    with mine.alone() as alone:
        assert alone
    mine.close()
