"""The output-folder lock, held against a real second process."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.diagnostics import StateError
from runner.exclusive import NOTE_OFFSET
from runner.execute.folder_guard import FolderGuard

REPO = Path(__file__).resolve().parents[1]

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from runner.execute.folder_guard import FolderGuard

    with FolderGuard(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.readline()  # hold until told (or killed)
    print("released", flush=True)
    """
)


def _start_holder(out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_is_refused_while_another_process_holds_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with _start_holder(out) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        with pytest.raises(StateError) as err:
            FolderGuard(out).acquire()
        assert err.value.message == f"another backdrop run is using {out} (pid {holder.pid})"
        assert "wait for it to finish" in (err.value.hint or "")
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        holder.wait()
    with FolderGuard(out) as lock:
        assert lock.held
        assert holder_note(out / ".backdrop" / "lock") == str(os.getpid())


def holder_note(path: Path) -> str:
    # Read as a contender does: past the byte Windows' lock keeps others from reading.
    with path.open("rb") as handle:
        handle.seek(NOTE_OFFSET)
        return handle.read().decode().strip()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with _start_holder(out) as holder:
        holder.kill()  # SIGKILL; TerminateProcess on Windows
        holder.wait()
    assert (out / ".backdrop" / "lock").exists()
    with FolderGuard(out) as lock:
        assert lock.held


def test_the_lock_also_excludes_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    with FolderGuard(tmp_path) as first:
        with pytest.raises(StateError, match="another backdrop run"):
            FolderGuard(tmp_path).acquire()
        assert first.held
    with FolderGuard(tmp_path) as again:
        assert again.held


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW (Windows)")
@pytest.mark.parametrize(
    ("victim_at", "refusal"),
    [
        # Out of the project (the output folder, no repository here): the state folder's check.
        ("notes.txt", r"\.backdrop/lock is a link to a place outside the project"),
        # Inside it, the check lets the link be; the lock file is still opened without following.
        ("out/notes.txt", r"cannot write \.backdrop/lock in"),
    ],
)
def test_a_lock_file_planted_as_a_symlink_is_not_followed(
    tmp_path: Path, victim_at: str, refusal: str
) -> None:
    (tmp_path / "out" / ".backdrop").mkdir(parents=True)
    victim = tmp_path / victim_at
    victim.write_text("keep me")
    (tmp_path / "out" / ".backdrop" / "lock").symlink_to(victim)
    with pytest.raises(StateError, match=refusal):
        FolderGuard(tmp_path / "out").acquire()
    assert victim.read_text() == "keep me"  # opened read-write and truncated, it would be gone


def test_a_file_system_that_cannot_lock_is_told_apart_from_a_busy_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    def no_locks(fd: int, *, blocking: bool = True) -> bool:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))  # an NFS mount without lockd

    monkeypatch.setattr(filelock, "lock_descriptor", no_locks)
    with pytest.raises(StateError) as err:
        FolderGuard(tmp_path).acquire()
    assert err.value.message == f"cannot lock {tmp_path / '.backdrop' / 'lock'}: No locks available"
    assert err.value.hint == "put the output folder on a local disk"
