"""schemathesis against a live, signed-in server, from spec/openapi.yaml: no 5xx, every answer as described.

A bounded number of examples per operation (valid and invalid data), derandomized so that CI
runs the same requests each time; the whole run stays within about two minutes on 2 cores.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from api_description import openapi
from broken_server import broken_server_command
from harness import ServerProcess, Socket, login, register_and_login
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from messaging import open_room
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from messenger.core import protocol

EXAMPLES_PER_MODE = 6
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# These end the fuzzing caller's own session, and every later request would only see 401.
SESSION_ENDING = {"DELETE /api/device-sessions/current", "DELETE /api/device-sessions/{session_id}"}


def fuzz(url: str, member_token: str, admin_token: str, only: set[str] | None = None,
         examples: int = EXAMPLES_PER_MODE) -> list[str]:
    """Run every operation (or those labelled in `only`) with generated valid and invalid data;
    the failures found, one line per operation and mode. The admin reads the admin routes; any
    change is made by the member, so nobody's account or the server's settings change under the run."""
    schema = schemathesis.openapi.from_dict(openapi())
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SESSION_ENDING or (only is not None and label not in only):
            continue
        admin_read = operation.path.startswith("/api/admin/") and operation.method.upper() == "GET"
        headers = {"Authorization": f"Bearer {admin_token if admin_read else member_token}"}
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                response = case.call(base_url=url, headers=headers, timeout=30)  # noqa: B023 - run() runs in this round
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing about this operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # each failure is a finding to report
                failures.append(f"{label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


def signed_in_office(server: ServerProcess) -> tuple[str, str]:
    """A member with a group room holding a message, a reaction, a poll and a notice (small ids the
    fuzzer will hit), and the platform admin; their device tokens."""
    admin = login(server, "admin", server.first_admin_password)
    member, other = register_and_login(server), register_and_login(server)
    room_id = open_room(member, other, name="fuzz")
    sock = Socket(server.url, member.token)
    message_id = sock.call(protocol.SEND_MESSAGE, {"room_id": room_id, "content": "hello", "type": "text",
                                                   "encrypted": False})["message_id"]
    sock.close()
    assert member.post(f"/api/messages/{message_id}/reactions", json={"emoji": "👍"}).status_code == 200
    assert member.post(f"/api/rooms/{room_id}/polls", json={"question": "q?", "options": ["a", "b"]}).status_code == 201
    assert member.post(f"/api/rooms/{room_id}/pins", json={"content": "notice"}).status_code == 201
    return member.token, admin.token


def test_the_api_survives_schemathesis(fresh_server):
    server = fresh_server()
    member_token, admin_token = signed_in_office(server)
    started = time.monotonic()
    failures = fuzz(server.url, member_token, admin_token)
    took = time.monotonic() - started
    assert not failures, f"{len(failures)} failures in {took:.0f} s:\n" + "\n\n".join(failures)
    assert "Traceback" not in "".join(server.output)


@pytest.mark.parametrize("broken, label, finding", [
    ("http_raises", "GET /api/users", "Server error"),
    ("http_off_spec", "GET /api/system/health", "Response violates schema"),
])
def test_the_fuzz_reports_a_handler_broken_on_purpose(tmp_path, broken, label, finding):
    command, env = broken_server_command(broken)
    server = ServerProcess(tmp_path / "data", env=env, command=command, e2e_policy="optional").start()
    try:
        member_token, admin_token = signed_in_office(server)
        failures = fuzz(server.url, member_token, admin_token, only={label}, examples=3)
    finally:
        server.stop()
    assert failures and all(failure.startswith(label) for failure in failures), failures
    assert finding in failures[0], failures[0]
