"""One folder per lab under /run/netlab (tmpfs: a reboot removes labs and their state alike).

    journal.jsonl  one line per kernel object, appended *before* the object is created
    state.json     the lab as built (plan, addresses, processes), replaced atomically
    lock           flock held by the command changing the lab
    logs/ uts/     container output; the pods' UTS namespace bind mounts
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
import time

from netlab.errors import NetlabError, UsageError
from netlab.model.codec import from_data, to_data
from netlab.model.state import STATE_VERSION, LabState
from netlab.plan.naming import RUN_DIR


class LabBusy(NetlabError):
    exit_code = 2


class LabDir:
    def __init__(self, lab: str, root: str = RUN_DIR) -> None:
        """ROOT is /run/netlab; unit tests with the fake kernel use a temporary folder."""
        self.lab = lab
        self.path = f"{root}/{lab}"
        self._lock_fd: int | None = None
        self._journal = None
        self._journal_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------

    @property
    def journal_path(self) -> str:
        return f"{self.path}/journal.jsonl"

    @property
    def state_path(self) -> str:
        return f"{self.path}/state.json"

    def log_path(self, name: str) -> str:
        return f"{self.path}/logs/{name}.log"

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def create(self) -> None:
        """The lab's folder, private to root (state and logs hold the pods' environment)."""
        make_private_dir(os.path.dirname(self.path))
        for sub in ("", "/logs", "/uts"):
            os.makedirs(self.path + sub, mode=0o700, exist_ok=True)

    # -- lock ----------------------------------------------------------------------------

    def lock(self, wait_s: float = 0, who: str = "") -> None:
        """Take the lab's lock; wait up to WAIT_S seconds for another command to finish. WHO
        (the command) is written into the lock, for the message another command shows."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        fd = os.open(f"{self.path}/lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise LabBusy(f"lab '{self.lab}' is busy: {holder or 'another command'} "
                                  f"is changing it (waited {wait_s:g}s); try again when it "
                                  "is done") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{who or 'netlab'} (pid {os.getpid()})".encode(), 0)
        self._lock_fd = fd

    def try_lock(self, who: str = "") -> bool:
        """Take the lock if it is free now; False when another command holds it."""
        try:
            self.lock(0, who)
            return True
        except LabBusy:
            return False

    # -- a change in progress -------------------------------------------------------------

    @property
    def pending_path(self) -> str:
        return f"{self.path}/change.pending"

    def begin_change(self, what: str) -> None:
        """Mark a change as under way (before it touches the kernel). Only a change that was
        killed leaves the mark: the next command puts the kernel back to the saved state."""
        with os.fdopen(private_file(self.pending_path, os.O_TRUNC), "w") as f:
            f.write(what)

    def end_change(self) -> None:
        try:
            os.unlink(self.pending_path)
        except FileNotFoundError:
            pass

    def change_pending(self) -> bool:
        return os.path.exists(self.pending_path)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- journal -------------------------------------------------------------------------

    def record(self, *entries: dict) -> None:
        """Append ENTRIES to the journal; they are in the kernel's hands when this returns.

        One write(2) per call, so a kill -9 leaves whole lines. No fsync: the journal lives on
        tmpfs and describes kernel objects that a machine crash removes along with it."""
        text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
        with self._journal_lock:
            if self._journal is None:
                self._journal = os.fdopen(private_file(self.journal_path, os.O_APPEND), "a",
                                          encoding="utf-8")
            self._journal.write(text)
            self._journal.flush()

    def entries(self) -> list[dict]:
        try:
            with open(self.journal_path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by kill -9 names nothing that was created
        return out

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self.unlock()

    # -- state ---------------------------------------------------------------------------

    def save_state(self, state: LabState) -> None:
        """Replace the state file atomically (readers never see half a file)."""
        tmp = self.state_path + ".tmp"
        with os.fdopen(private_file(tmp, os.O_TRUNC), "w", encoding="utf-8") as f:
            json.dump(to_data(state), f, separators=(",", ":"))
        os.replace(tmp, self.state_path)

    def load_state(self) -> LabState | None:
        """The saved state, or None when the lab has none (yet)."""
        try:
            with open(self.state_path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        if data.get("version") != STATE_VERSION:
            raise UsageError(f"lab '{self.lab}' was built by another netlab version (state "
                             f"version {data.get('version')}, this one reads "
                             f"{STATE_VERSION}): netlab down {self.lab}")
        return from_data(LabState, data)

    def remove(self) -> None:
        """Delete the lab folder (ours by construction: only netlab writes under it)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def make_private_dir(path: str) -> None:
    """PATH as a folder only root can enter (0700), whatever it was created with."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)


def private_file(path: str, flags: int) -> int:
    """Open PATH for writing, 0600, never through a symbolic link an attacker planted."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | flags, 0o600)


def output_file(path: str) -> int:
    """Open a file the user named for output (--junit): created or truncated, never through a
    symbolic link (another user could have planted one pointing at a file of root's)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW |
                       os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symbolic link; netlab does not write through one "
                             "(give the real path)") from None
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


ERROR_LOG = f"{RUN_DIR}/netlab.log"
ERROR_LOG_MAX = 1 << 20  # past this size the older half is dropped


def log_failure(text: str) -> str | None:
    """Append TEXT (a failed command and its traceback) to netlab's log under /run/netlab,
    which outlives the lab (a failed ``up`` removes the lab's own folder). Returns the log's
    path, or None when it cannot be written (not root)."""
    try:
        make_private_dir(RUN_DIR)
        fd = private_file(ERROR_LOG, os.O_APPEND)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            if f.tell() > ERROR_LOG_MAX:
                with open(ERROR_LOG, encoding="utf-8", errors="replace") as old:
                    keep = old.read()[-ERROR_LOG_MAX // 2:]
                f.truncate(0)
                f.write(keep)
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text.rstrip("\n") + "\n")
        return ERROR_LOG
    except OSError:
        return None


def list_labs(root: str = RUN_DIR) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.isdir(os.path.join(root, n))]
