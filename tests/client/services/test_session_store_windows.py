"""Session store against Windows Credential Manager's behaviour: its errors and its persistence."""

from client_kit import MemoryKeyring
from keyring.backends import Windows, chainer

from messenger.client.services.session_store import CRED_PERSIST_LOCAL_MACHINE, SessionStore

SERVER = "https://chat.office:5000"


class CredentialManagerError(Exception):
    """What keyring's Windows backend lets through: pywintypes.error, a plain Exception subclass
    (winerror, funcname, strerror), not a KeyringError."""


class RefusingCredentialManager(MemoryKeyring):
    def set_password(self, service, username, password):
        raise CredentialManagerError(1312, "CredWrite", "A specified logon session does not exist.")

    def get_password(self, service, username):
        raise CredentialManagerError(1312, "CredRead", "A specified logon session does not exist.")

    def delete_password(self, service, username):
        raise CredentialManagerError(1312, "CredDelete", "A specified logon session does not exist.")


def test_a_credential_manager_error_falls_back_to_the_protected_file(tmp_path):
    store = SessionStore(tmp_path, backend=RefusingCredentialManager())
    store.save_token(SERVER, "kim", "tok-1312")
    assert "tok-1312" in (tmp_path / "device-tokens.json").read_text()  # mode 0600 here, DPAPI on Windows
    assert store.load_token(SERVER, "kim") == "tok-1312"
    store.forget_token(SERVER, "kim")
    assert store.load_token(SERVER, "kim") is None


def test_windows_credentials_are_kept_on_this_computer_not_roaming():
    backend = Windows.WinVaultKeyring()
    assert "_persist" not in vars(backend)  # keyring's default: enterprise (roaming)
    SessionStore(None, backend=backend)
    # Read back as keyring keeps it: its getter needs win32cred, which only Windows has.
    assert vars(backend)["_persist"] == CRED_PERSIST_LOCAL_MACHINE == 2


def test_in_a_chain_of_keyrings_the_windows_one_is_kept_on_this_computer():
    inner = Windows.WinVaultKeyring()

    class Chain(chainer.ChainerBackend):
        backends = [inner, MemoryKeyring()]

    SessionStore(None, backend=Chain())
    assert vars(inner)["_persist"] == CRED_PERSIST_LOCAL_MACHINE
