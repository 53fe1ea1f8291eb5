"""Sending signals (telemetry/signals.py) to real child processes the test starts."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from rigtui.telemetry.signals import (
    PidOrigin,
    ProcessSignals,
    SignalCheck,
    SignalTarget,
    gone_message,
)

NOBODY = 65534


@pytest.fixture
def child():
    """A real process of this user, ended after the test whatever happened."""
    process = subprocess.Popen(["sleep", "600"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.mark.parametrize(("action", "returncode"), [("terminate", -15), ("kill", -9)])
def test_a_signal_reaches_the_child(child, action, returncode):
    signals = ProcessSignals(PidOrigin.LOCAL)
    check = signals.check(SignalTarget(child.pid, "sleep"))
    assert check.allowed and check.refusal is None
    outcome = signals.send(check, action)
    assert outcome.sent
    assert outcome.signal_name == ("SIGTERM" if action == "terminate" else "SIGKILL")
    assert outcome.message == f"Sent {outcome.signal_name} to sleep (PID {child.pid})."
    assert child.wait(timeout=10) == returncode


def test_a_process_gone_before_the_check_is_reported_not_an_error(child):
    child.kill()
    child.wait()
    check = ProcessSignals(PidOrigin.LOCAL).check(SignalTarget(child.pid, "sleep"))
    assert not check.allowed and check.gone
    assert check.refusal == f"PID {child.pid} has already exited."


def test_a_process_gone_between_the_check_and_the_send_is_reported(child):
    signals = ProcessSignals(PidOrigin.LOCAL)
    check = signals.check(SignalTarget(child.pid, "sleep"))
    assert check.allowed
    child.kill()
    child.wait()  # reaped: the PID is free
    outcome = signals.send(check, "terminate")
    assert not outcome.sent and outcome.gone
    assert outcome.message == gone_message(child.pid)


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        (PidOrigin.SIMULATED, "This is the demo: its processes are invented"),
        (PidOrigin.RECORDED, "This is a recording"),
    ],
)
def test_invented_or_recorded_pids_are_never_signalled(child, origin, words):
    signals = ProcessSignals(origin)
    check = signals.check(SignalTarget(child.pid, "sleep"))
    assert not check.allowed and check.refusal.startswith(words)
    outcome = signals.send(check, "kill")
    assert not outcome.sent
    assert child.poll() is None  # still running: nothing was sent


def test_another_users_process_is_refused_before_asking(child):
    """rigtui acting as another user than the child's owner, not root: refused, in words."""
    check = ProcessSignals(PidOrigin.LOCAL, uid=NOBODY).check(SignalTarget(child.pid, "sleep"))
    assert not check.allowed and not check.gone
    assert f"PID {child.pid} belongs to" in check.refusal
    assert "only root may signal another user's process" in check.refusal
    assert child.poll() is None


def test_root_may_signal_another_users_process():
    if os.geteuid() != 0:
        pytest.skip("needs root, to start a process as another user")
    other = subprocess.Popen(["sleep", "600"], user=NOBODY)
    try:
        signals = ProcessSignals(PidOrigin.LOCAL, uid=0)
        check = signals.check(SignalTarget(other.pid, "sleep"))
        assert check.allowed and check.owner == "nobody"
        assert signals.send(check, "terminate").sent
        assert other.wait(timeout=10) == -15
    finally:
        if other.poll() is None:
            other.kill()
        other.wait()


def test_as_a_user_without_rights_the_check_refuses_and_the_system_says_eperm(child):
    """A real unprivileged process (a fork that drops to nobody) asks about root's child: the
    check refuses it; sent anyway, the kernel's EPERM comes back in words."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to drop to another user")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest from here on, only the answer down the pipe
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            signals = ProcessSignals(PidOrigin.LOCAL)
            target = SignalTarget(child.pid, "sleep")
            check = signals.check(target)
            import psutil

            forced = SignalCheck(target, owner="root", process=psutil.Process(child.pid))
            outcome = signals.send(forced, "kill")
            answer = {"refusal": check.refusal, "sent": outcome.sent, "message": outcome.message}
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            answer = {"error": repr(error)}
        os.write(write_end, json.dumps(answer).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as answer_file:
        answer = json.loads(answer_file.read())
    os.waitpid(pid, 0)
    assert "error" not in answer, answer
    assert answer["refusal"].startswith(f"PID {child.pid} belongs to root, and rigtui runs as")
    assert answer["sent"] is False
    assert answer["message"] == (
        f"The system refused to send SIGKILL to PID {child.pid} (no permission: it belongs to "
        "root)."
    )
    assert child.poll() is None


def test_rigtui_itself_and_impossible_pids_are_refused():
    signals = ProcessSignals(PidOrigin.LOCAL)
    assert "rigtui itself" in signals.check(SignalTarget(os.getpid())).refusal
    assert signals.check(SignalTarget(0)).refusal == "PID 0 is not a process."
