import pytest
from chat_kit import Device


@pytest.fixture
def devices(tmp_path):
    made = []

    def make(server, username: str, online: bool = True) -> Device:
        device = Device(server, tmp_path / f"device{len(made)}", username)
        made.append(device)
        return device.online() if online else device

    yield make
    for device in made:
        device.close()
