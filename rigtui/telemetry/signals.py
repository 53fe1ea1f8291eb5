"""Sending a signal to a process the dashboard lists: checked first, then sent, both in words.

Whether a signal may be sent at all depends on where the PIDs came from (``PidOrigin``): only
this machine's own (live NVML and psutil) are real processes. A demo's are invented by the
simulation and may be a real process's PID by chance; a recording's ran at another time. For
those nothing is ever sent.

The check is made before asking the user (so a refusal is said before the question), and the
process is held as a ``psutil.Process``: sending through it refuses a PID that was reused by a
new process since (psutil compares the creation time).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from enum import Enum
from types import ModuleType

import psutil as real_psutil


class PidOrigin(Enum):
    LOCAL = "local"
    """This machine's processes: signals go to them."""
    SIMULATED = "simulated"
    """The demo's processes, invented by the simulated rig."""
    RECORDED = "recorded"
    """A recording's processes, from another time or machine."""


SIGNALS = {"terminate": signal.SIGTERM, "kill": signal.SIGKILL}
"""The two actions offered, as nvitop and btop offer them: ask first, then insist."""

REFUSED_BY_ORIGIN = {
    PidOrigin.SIMULATED: (
        "This is the demo: its processes are invented by the simulation, so no signal is sent "
        "(PID {pid} here may be a real process of this machine)."
    ),
    PidOrigin.RECORDED: (
        "This is a recording: its processes ran at another time, perhaps on another machine, "
        "so no signal is sent."
    ),
}


@dataclass(frozen=True)
class SignalTarget:
    """The process as the dashboard showed it: what the confirmation names."""

    pid: int
    name: str | None = None
    username: str | None = None
    vram_bytes: int | None = None
    gpu_index: int | None = None


@dataclass(frozen=True)
class SignalCheck:
    """Whether ``target`` may be sent a signal; ``refusal`` says why not, in words."""

    target: SignalTarget
    refusal: str | None = None
    gone: bool = False
    """The process had already exited (said, not an error)."""
    owner: str | None = None
    """Its owner as the system says now."""
    process: object | None = None
    """The ``psutil.Process`` to send through (None when refused)."""

    @property
    def allowed(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True)
class SignalOutcome:
    target: SignalTarget
    signal_name: str
    """``SIGTERM`` or ``SIGKILL``."""
    sent: bool
    message: str
    gone: bool = False


class ProcessSignals:
    """Checks and sends. ``uid``: the user rigtui acts as (its effective uid unless given)."""

    def __init__(
        self,
        origin: PidOrigin,
        *,
        psutil: ModuleType | object = real_psutil,
        uid: int | None = None,
    ) -> None:
        self.origin = origin
        self._psutil = psutil
        self.uid = os.geteuid() if uid is None else uid

    def check(self, target: SignalTarget) -> SignalCheck:
        if self.origin is not PidOrigin.LOCAL:
            return SignalCheck(target, REFUSED_BY_ORIGIN[self.origin].format(pid=target.pid))
        psutil = self._psutil
        pid = target.pid
        if pid <= 0:
            return SignalCheck(target, f"PID {pid} is not a process.")
        if pid == os.getpid():
            return SignalCheck(target, f"PID {pid} is rigtui itself: quit with q instead.")
        try:
            process = psutil.Process(pid)
            uids = process.uids()
            owner = _owner(psutil, process, uids.real)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return SignalCheck(target, gone_message(pid), gone=True)
        except psutil.AccessDenied:
            return SignalCheck(target, f"PID {pid}: this user may not even read who owns it.")
        # kill(2): the sender's real or effective uid must be the target's real or saved one,
        # unless the sender is privileged.
        if self.uid != 0 and self.uid not in {uids.real, uids.saved}:
            return SignalCheck(
                target,
                f"PID {pid} belongs to {owner}, and rigtui runs as {_user_name(self.uid)}: only "
                "root may signal another user's process.",
                owner=owner,
            )
        return SignalCheck(target, owner=owner, process=process)

    def send(self, check: SignalCheck, action: str) -> SignalOutcome:
        """Send ``action`` (``terminate`` or ``kill``) to the process ``check`` allowed."""
        number = SIGNALS[action]
        name = number.name
        target = check.target
        if not check.allowed or check.process is None:
            return SignalOutcome(target, name, False, check.refusal or "not allowed", check.gone)
        psutil = self._psutil
        try:
            check.process.send_signal(number)  # type: ignore[attr-defined]
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return SignalOutcome(target, name, False, gone_message(target.pid), gone=True)
        except psutil.AccessDenied:
            return SignalOutcome(
                target,
                name,
                False,
                f"The system refused to send {name} to PID {target.pid} (no permission: it "
                f"belongs to {check.owner or 'another user'}).",
            )
        except OSError as error:
            return SignalOutcome(
                target, name, False, f"{name} to PID {target.pid} failed: {error.strerror}."
            )
        return SignalOutcome(
            target, name, True, f"Sent {name} to {target.name or 'PID'} (PID {target.pid})."
        )


def gone_message(pid: int) -> str:
    return f"PID {pid} has already exited."


def _owner(psutil, process, uid: int) -> str:
    try:
        return process.username()
    except (psutil.AccessDenied, KeyError):
        return f"uid {uid}"


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"
