"""What the importers and the CLI may read: regular files only, size-capped, confined; no internal hosts.

``read_regular_file`` refuses devices (``/dev/zero``, ``/dev/urandom``), FIFOs and sockets without
blocking on them, and never reads more than the cap plus one byte, whatever ``stat`` claims (files in
``/proc`` report size 0). ``confine`` decides whether a referenced path (a ``$ref``, an import) lies
inside the allowed roots: the referring file's own folder tree plus any root the user named.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
from collections.abc import Iterable
from pathlib import Path

from orchestra_app.domain.errors import ErrorKind, ImportError_


def read_regular_file(path: str | Path, *, max_bytes: int, display: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; every refusal is an ImportError_ (IO or
    TOO_LARGE) naming ``display`` (default: the path)."""
    name = display or str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImportError_("file not found", kind=ErrorKind.IO, file=name) from None
    except IsADirectoryError:
        raise ImportError_("is a directory, not a file", kind=ErrorKind.IO, file=name) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise ImportError_("not a regular file", kind=ErrorKind.IO, file=name) from None
        raise ImportError_(
            f"cannot read the file: {exc.strerror or exc}", kind=ErrorKind.IO, file=name
        ) from None
    try:
        info = os.fstat(fd)  # the opened file itself: no swap between a check and the read
        if stat.S_ISDIR(info.st_mode):
            raise ImportError_("is a directory, not a file", kind=ErrorKind.IO, file=name)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a FIFO (named pipe)"
                if stat.S_ISFIFO(info.st_mode)
                else "a socket"
                if stat.S_ISSOCK(info.st_mode)
                else "not a regular file"
            )
            raise ImportError_(
                f"not a regular file ({kind}); only regular files are read", kind=ErrorKind.IO, file=name
            )
        if info.st_size > max_bytes:
            raise ImportError_(
                f"the file is {info.st_size} bytes, above the {max_bytes}-byte limit",
                kind=ErrorKind.TOO_LARGE,
                file=name,
            )
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ImportError_(
                    f"the file is larger than the {max_bytes}-byte limit",
                    kind=ErrorKind.TOO_LARGE,
                    file=name,
                )
        return b"".join(chunks)
    except OSError as exc:
        raise ImportError_(
            f"cannot read the file: {exc.strerror or exc}", kind=ErrorKind.IO, file=name
        ) from None
    finally:
        os.close(fd)


def within(path: Path, roots: Iterable[Path]) -> bool:
    """True when ``path`` (resolved: symlinks followed, ``..`` gone) lies inside one of ``roots``."""
    resolved = path.resolve()
    for root in roots:
        base = root.resolve()
        if resolved == base or base in resolved.parents:
            return True
    return False


def confine(target: Path, roots: Iterable[Path]) -> str | None:
    """None when ``target`` may be read; else the reason (for a warning naming the reference)."""
    allowed = list(roots)
    if within(target, allowed):
        return None
    shown = ", ".join(str(r) for r in allowed) or "none"
    return (
        f"it points outside the allowed folders ({shown}); name another root with --allow-root to follow it"
    )


def is_private_host(host: str) -> bool:
    """True when ``host`` is, or resolves to, a loopback, link-local, private or otherwise internal
    address (cloud metadata at 169.254.169.254, 10/8, 127/8, ::1, fc00::/7, ...)."""
    name = host.strip("[]")
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False  # unresolvable: the request itself will fail with a clear error
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return any(
        a.is_loopback
        or a.is_link_local
        or a.is_private
        or a.is_reserved
        or a.is_multicast
        or a.is_unspecified
        for a in addresses
    )
