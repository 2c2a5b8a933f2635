"""Settings > "Why don't I see notifications?": the doctor runs the real checks of this (Linux)
desk and says what it found in plain words."""

from __future__ import annotations

from desk_kit import WAIT_MS, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def test_the_doctor_names_a_muted_room_the_missing_service_and_what_does_not_apply(server, users, desks, qtbot,
                                                                                  monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")  # a desk without one
    kim, lee = users(2)
    room_id = kim.post("/api/rooms", json={"member_ids": [lee.user["id"]]}).json()["room_id"]
    kim.post(f"/api/rooms/{room_id}/mute", json={"muted": True}).raise_for_status()
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    qtbot.waitUntil(lambda: window.rooms.rowCount() == 1, timeout=WAIT_MS)
    settings = app.open_settings()

    QTest.mouseClick(settings.notification_doctor, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: app.doctor_dialog is not None and app.doctor_dialog.isVisible(), timeout=WAIT_MS)
    lines = [label.text() for label in app.doctor_dialog.lines]
    assert f"These rooms are muted: {lee.user['nickname']}" in lines  # a direct room is named after the partner
    assert "The messenger's desktop notifications are on." in lines
    assert "Windows Focus Assist (Do not disturb) — does not apply here" in lines
    assert any(line.startswith("The desktop has no notification service") for line in lines)
    assert "There is no system tray, so the messenger cannot notify from it." in lines  # offscreen has none
    assert app.doctor_dialog.summary.text() == "Found 3 thing(s) that stop notifications."
