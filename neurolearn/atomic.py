"""Write outputs atomically: a failed, interrupted or terminated run leaves nothing half-written and the previous
output intact.

An output OUT is written as a temporary ``.OUT.<pid>.<random>`` beside it and renamed into place when complete.
While one is open, SIGTERM raises :class:`~neurolearn.errors.Terminated` (SIGINT raises KeyboardInterrupt as
always), so the temporary is removed on the way out. A temporary left by a run that was killed outright
(SIGKILL, power loss) is removed by the next write of the same OUT, which says so on stderr; one whose process
is still running is left alone.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from neurolearn.errors import InputError, Terminated


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def terminate_as_exception():
    """While open (in the main thread, where SIGTERM still has its default action), SIGTERM raises
    :class:`~neurolearn.errors.Terminated` instead of ending the process at once, so cleanup code runs."""
    install = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    if install:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(out: Path) -> list[str]:
    """Remove the temporaries ``.OUT.*`` beside ``out`` left by runs that no longer exist; return their names
    (and print a warning naming them). Temporaries of a live process are left alone."""
    removed = []
    for tmp in sorted(out.parent.glob(f".{out.name}.*")):
        pid = tmp.name[len(out.name) + 2:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        if pid.isdigit() and int(pid) == os.getpid():
            continue
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    if removed:
        print(f"warning: removed {', '.join(removed)} beside {out}: temporaries of an interrupted earlier run",
              file=sys.stderr)
    return removed


def check_output(path, flag: str, directory: bool) -> Path:
    """Refuse, before any work, an output that cannot be written: a file where a directory is wanted or the
    reverse, a parent that is a file, or a location that is not writable. Missing parents are created later."""
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        raise InputError(f"{flag} {path}: is {'a file' if directory else 'a directory'}; expected "
                         f"{'a directory' if directory else 'a file'}")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: {parent} is not writable")
    return path


def _prepare(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create its directory {out.parent} ({exc.strerror or exc})") from None
    remove_stale_temporaries(out)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike):
    """Yield a temporary directory beside ``out``; on success it replaces ``out`` (old contents removed),
    on any exception, Ctrl-C or SIGTERM it is deleted and ``out`` is left as it was."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; expected a directory")
    with terminate_as_exception():
        _prepare(out)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
        except OSError as exc:
            raise InputError(f"{out}: cannot write in {out.parent} ({exc.strerror or exc})") from None
        try:
            yield tmp
            if out.exists():
                old = out.with_name(f".{out.name}.{os.getpid()}.old")
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old)
            else:
                tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_file(out: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then move the file to ``out``; nothing is left behind on failure."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; expected a file")
    with terminate_as_exception():
        _prepare(out)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=out.suffix, dir=out.parent)
        except OSError as exc:
            raise InputError(f"{out}: cannot write in {out.parent} ({exc.strerror or exc})") from None
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
