"""The prompt history: every prompt sent, newest last, kept across restarts.

One JSON object per line (``{"prompt": "..."}``), appended as each prompt is sent, so a kill
loses nothing already sent. The file is bounded: past :data:`TRIM_AT` lines it is rewritten with
the newest :data:`MAX_PROMPTS`, atomically. A damaged line (a kill mid-append, an edit by hand)
is skipped, not fatal. Where the file cannot be written the history still works in memory, and
the first failure is reported once.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from rigtui.store.files import why, write_atomically

MAX_PROMPTS = 1000
TRIM_AT = MAX_PROMPTS + MAX_PROMPTS // 10
"""Lines the file may hold before it is trimmed: a rewrite per hundred prompts, not per prompt."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Larger than this is not a prompt history: it is read no further than its last bytes."""
FILE_NAME = "prompts.jsonl"


def _entry(line: str) -> str | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    prompt = data.get("prompt") if isinstance(data, dict) else None
    return prompt if isinstance(prompt, str) and prompt.strip() else None


class PromptHistory:
    """The prompts sent, oldest first (``prompts``), and the file they are kept in (or None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.prompts: list[str] = []
        self.skipped = 0
        """Damaged lines skipped when the file was read."""
        self.problem: str | None = None
        """Why the history is not being kept on disk (said once), or None."""
        self._lines_in_file = 0
        self._needs_newline = False
        self._lock = threading.Lock()

    @classmethod
    def load(cls, data_dir: Path | None) -> PromptHistory:
        """The history kept in ``data_dir`` (None: in memory only). Never raises: a file that
        cannot be read leaves an empty history that is not written (``problem`` says why)."""
        history = cls(data_dir / FILE_NAME if data_dir is not None else None)
        if history.path is not None:
            history._read()
        return history

    def _read(self) -> None:
        assert self.path is not None
        try:
            with self.path.open("rb") as file:
                file.seek(0, os.SEEK_END)
                size = file.tell()
                file.seek(max(0, size - MAX_FILE_BYTES))
                raw = file.read()
        except FileNotFoundError:
            return
        except OSError as error:
            self._give_up(
                f"cannot read the prompt history {self.path}: {why(error)}; "
                "prompts are kept for this session only"
            )
            return
        self._needs_newline = bool(raw) and not raw.endswith(b"\n")
        lines = raw.decode("utf-8", errors="replace").splitlines()
        self._lines_in_file = len(lines)
        for line in lines:
            prompt = _entry(line)
            if prompt is None:
                self.skipped += line.strip() != ""
            elif not self.prompts or self.prompts[-1] != prompt:
                self.prompts.append(prompt)
        del self.prompts[:-MAX_PROMPTS]

    def _give_up(self, problem: str) -> None:
        """Keep it in memory from now on: nothing more is written to (or over) the file."""
        self.problem = problem
        self.path = None

    def add(self, prompt: str) -> bool:
        """Keep ``prompt`` (not when it repeats the newest); True if it was added. Safe to call
        from a worker thread; an error writing it sets ``problem`` and stops the writing."""
        if not prompt.strip():
            return False
        with self._lock:
            if self.prompts and self.prompts[-1] == prompt:
                return False
            self.prompts.append(prompt)
            del self.prompts[:-MAX_PROMPTS]
            if self.path is not None:
                try:
                    self._append(prompt)
                except OSError as error:
                    self._give_up(
                        f"cannot keep the prompt history in {self.path.parent}: {why(error)}; "
                        "prompts are kept for this session only"
                    )
            return True

    def _append(self, prompt: str) -> None:
        assert self.path is not None
        line = json.dumps({"prompt": prompt}, ensure_ascii=False) + "\n"
        if self._needs_newline:  # after a line cut short by a kill: start a line of its own
            line = "\n" + line
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of one line in append mode: lines from two rigtuis never interleave.
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(handle, line.encode("utf-8"))
        finally:
            os.close(handle)
        self._needs_newline = False
        self._lines_in_file += 1
        if self._lines_in_file > TRIM_AT:
            self._trim()

    def _trim(self) -> None:
        assert self.path is not None
        text = "".join(
            json.dumps({"prompt": prompt}, ensure_ascii=False) + "\n" for prompt in self.prompts
        )
        write_atomically(self.path, text)
        self._lines_in_file = len(self.prompts)
