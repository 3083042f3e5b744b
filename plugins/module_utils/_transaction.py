# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The transaction every writer module of the collection runs: one host lock, and files put back on failure.

Pure Python on os and fcntl, no AnsibleModule, so unit tests run this on a
temporary tree. It renames and backs up files itself rather than through
``AnsibleModule.atomic_move`` and ``backup_local``: before ansible-core 2.19
those end the module with ``fail_json`` on an error, which would skip the
restore. A file is written to a temporary file in its own directory (so it
gets that directory's default SELinux context) and renamed over the old one.

- :class:`HostLock` lets one buildfleet.mirrors writer at a time change a host,
  whatever role runs it (an ``ansible-pull`` at boot and an AWX job must not mix
  two policies across files). The lock lives in a root-only directory, not the
  world-writable /run/lock where any user could hold or plant it.
- :class:`Transaction` remembers every path a run changes as it was before
  (:class:`Snapshot`) and puts every one of them back with :meth:`Transaction.restore`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import secrets
import stat
import tempfile
import time

DEFAULT_LOCK_TIMEOUT = 300
LOCK_DIR = '/run/buildfleet-mirrors'
LOCK_FILE = 'writer.lock'


class LockError(Exception):
    """The host lock cannot be used (its directory or file is not what it must be)."""


class LockTimeout(LockError):
    """Another run held the host lock for longer than the wait allowed."""


def _is_root():
    return os.geteuid() == 0


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


class HostLock:
    """One writer at a time on a host, for every role of the collection (fcntl.flock, exclusive).

    The directory is made 0700 if missing and refused when it is a symlink, not
    a directory, owned by another user than root (or, when not run as root, than
    the user running), or writable by group or others. The lock file is opened
    without following a link. The holder writes ``pid holder iso-time`` into it,
    so that a run that waits too long can say who holds the lock.
    """

    def __init__(self, timeout=DEFAULT_LOCK_TIMEOUT, directory=LOCK_DIR, holder='go_policy'):
        self.timeout = max(0, timeout if timeout is not None else DEFAULT_LOCK_TIMEOUT)
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self.holder = ' '.join(str(holder).split()) or 'unknown'
        self.fd = None

    def _open_directory(self):
        try:
            os.mkdir(self.directory, 0o700)
            if _is_root():
                os.chown(self.directory, 0, 0)
        except FileExistsError:
            pass
        except OSError as error:
            raise LockError('cannot create the lock directory %s: %s' % (self.directory, error.strerror or error))
        try:
            info = os.lstat(self.directory)
        except OSError as error:
            raise LockError('cannot read the lock directory %s: %s' % (self.directory, error.strerror or error))
        if stat.S_ISLNK(info.st_mode):
            raise LockError('the lock directory %s is a symlink; refusing to use it' % self.directory)
        if not stat.S_ISDIR(info.st_mode):
            raise LockError('the lock directory %s is not a directory; refusing to use it' % self.directory)
        try:
            # O_NOFOLLOW: the directory checked is the directory used, even if it is swapped for a link meanwhile.
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise LockError('cannot open the lock directory %s: %s' % (self.directory, error.strerror or error))
        info = os.fstat(fd)
        owners = (0,) if _is_root() else (0, os.geteuid())
        problem = None
        if info.st_uid not in owners:
            problem = 'is owned by uid %d, not root' % info.st_uid
        elif stat.S_IMODE(info.st_mode) & 0o022:
            problem = 'is writable by group or others (mode %04o)' % stat.S_IMODE(info.st_mode)
        if problem:
            os.close(fd)
            raise LockError('the lock directory %s %s; refusing to use it' % (self.directory, problem))
        return fd

    def _open_file(self, directory_fd):
        try:
            fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                         dir_fd=directory_fd)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise LockError('the lock file %s is a symlink; refusing to follow it' % self.path)
            raise LockError('cannot open the lock file %s: %s' % (self.path, error.strerror or error))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockError('the lock file %s is not a regular file; refusing to use it' % self.path)
        return fd

    def _holder_text(self):
        try:
            text = os.pread(self.fd, 4096, 0).decode('utf-8', 'replace').strip()
        except OSError:
            text = ''
        parts = text.split()
        if len(parts) >= 3 and parts[0].isdigit():
            return 'pid %s, %s, since %s' % (parts[0], ' '.join(parts[1:-1]), parts[-1])
        return 'holder unknown'

    def __enter__(self):
        directory_fd = self._open_directory()
        try:
            self.fd = self._open_file(directory_fd)
        finally:
            os.close(directory_fd)
        deadline = time.monotonic() + self.timeout
        pause = 0.05
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    holder = self._holder_text()
                    os.close(self.fd)
                    self.fd = None
                    raise LockTimeout(
                        'another buildfleet.mirrors run (%s) holds the host lock %s; waited %s s (lock_timeout)'
                        % (holder, self.path, self.timeout))
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, 1.0)
            except OSError as error:
                os.close(self.fd)
                self.fd = None
                raise LockError('cannot lock %s: %s' % (self.path, error.strerror or error))
        since = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
        record = ('%d %s %s\n' % (os.getpid(), self.holder, since)).encode('utf-8', 'replace')
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, record, 0)
        except OSError:
            pass  # the record only makes a waiter's message better
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            # Unlock and close; the file stays (deleting a flock file races with the next waiter's open).
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


class Snapshot:
    """A path as it was: absent, a regular file (bytes, mode, owner), a symlink (target), a directory or other."""

    def __init__(self, path):
        self.path = path
        self.kind, self.data, self.target, self.mode, self.uid, self.gid = 'absent', None, None, None, None, None
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        self.mode, self.uid, self.gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
        if stat.S_ISLNK(info.st_mode):
            self.kind, self.target = 'symlink', os.readlink(path)
        elif stat.S_ISDIR(info.st_mode):
            self.kind = 'dir'
        elif stat.S_ISREG(info.st_mode):
            self.kind = 'file'
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, 'rb') as stream:
                self.data = stream.read()
        else:
            self.kind = 'other'

    @property
    def exists(self):
        return self.kind != 'absent'

    def __repr__(self):
        return 'Snapshot(%r, kind=%r)' % (self.path, self.kind)


def rename_into_place(source, destination):
    """Rename ``source`` over ``destination`` (same directory) and make the rename durable."""
    os.rename(source, destination)
    directory = os.open(os.path.dirname(destination) or '.', os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def backup_copy(path):
    """Copy a regular file beside itself as Ansible names backups (``<path>.<pid>.<date>@<time>~``); its path."""
    stamp = '%s.%s.%s' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S', time.localtime()))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
    with open(path, 'rb') as source:
        for number in range(100):  # a second backup of the same file in the same second gets a number
            backup = stamp + ('~' if number == 0 else '.%d~' % number)
            try:
                fd = os.open(backup, flags, 0o600)
                break
            except FileExistsError:
                continue
        else:
            raise OSError(errno.EEXIST, 'no free backup name beside %s' % path)
        with os.fdopen(fd, 'wb') as target:
            while True:
                chunk = source.read(1 << 16)
                if not chunk:
                    break
                target.write(chunk)
        info = os.fstat(source.fileno())
    if _is_root():
        os.chown(backup, info.st_uid, info.st_gid)
    os.chmod(backup, stat.S_IMODE(info.st_mode))
    os.utime(backup, ns=(info.st_atime_ns, info.st_mtime_ns))
    return backup


class Transaction:
    """Files changed by one run, and how to put every one of them back."""

    def __init__(self, atomic_move=None, backup_local=None, tmp_prefix='.buildfleet.'):
        self.atomic_move = atomic_move or rename_into_place
        self.backup_local = backup_local or backup_copy
        self.tmp_prefix = tmp_prefix
        self.snapshots = {}        # path -> Snapshot, the state before the run
        self.changed = []          # paths written or removed, in order of first change
        self.created_dirs = []     # directories this run made, outermost first
        self.removed_dirs = []     # Snapshot of each directory this run removed
        self.backups = {}          # path -> backup path made by this run

    @property
    def changed_paths(self):
        return list(self.changed)

    def snapshot(self, path):
        """The path as it was before this run (the first call for a path reads it)."""
        if path not in self.snapshots:
            self.snapshots[path] = Snapshot(path)
        return self.snapshots[path]

    def _changing(self, path):
        snapshot = self.snapshot(path)
        if path not in self.changed:
            self.changed.append(path)
        return snapshot

    def make_dirs(self, directory, mode=0o755):
        """Make the missing directories of a path (root:root, ``mode``), remembered so restore() removes them."""
        missing = []
        while directory and not os.path.isdir(directory):
            missing.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for path in reversed(missing):
            os.mkdir(path, 0o700)
            self.created_dirs.append(path)
            if _is_root():
                os.chown(path, 0, 0)
            os.chmod(path, mode)

    def _replace(self, path, data, mode, uid=None, gid=None):
        """Put ``data`` at ``path`` through a temporary file in its directory; never a wider mode on the way."""
        directory = os.path.dirname(path) or '.'
        fd, temporary = tempfile.mkstemp(prefix=self.tmp_prefix, dir=directory)
        try:
            with os.fdopen(fd, 'wb') as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if _is_root():
                os.chown(temporary, 0 if uid is None else uid, 0 if gid is None else gid)
            os.chmod(temporary, mode)
            try:
                current = os.lstat(path)
            except FileNotFoundError:
                current = None
            if current is not None and stat.S_ISLNK(current.st_mode):
                # Renaming over the link replaces the link itself, never its target.
                os.rename(temporary, path)
            else:
                if current is not None and stat.S_ISREG(current.st_mode) and stat.S_IMODE(current.st_mode) & ~mode:
                    # A move that copies the old file's mode onto the new one (AnsibleModule.atomic_move) must not widen it.
                    os.chmod(path, stat.S_IMODE(current.st_mode) & mode)
                # A move that makes a new file 0666 & ~umask before the chmod below must not widen it either.
                with _umask(0o077):
                    try:
                        self.atomic_move(temporary, path)
                    except OSError:
                        raise
                    except Exception as error:  # atomic_move raises plain Exception for some failures
                        raise OSError(errno.EIO, 'could not replace %s: %s' % (path, error))
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)
        if _is_root():
            os.chown(path, 0 if uid is None else uid, 0 if gid is None else gid)
        os.chmod(path, mode)

    def write(self, path, data, mode=0o644, backup=False, uid=None, gid=None):
        """Write ``data`` (bytes, or str as UTF-8) at ``path`` as root:root ``mode``; the backup path or None.

        ``backup=True`` makes a backup (``backup_local``) of an existing regular
        file first. A symlink at ``path`` is replaced by a regular file (the
        snapshot keeps the link, restore() puts it back). ``uid`` and ``gid``
        (root's when None) give the file another owner or group, when run as
        root; the temporary file has ``mode`` before it is renamed into place,
        so a file only a group may read is never readable by others on the way.
        """
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogateescape')
        snapshot = self.snapshot(path)
        if snapshot.kind in ('dir', 'other'):
            raise OSError(errno.EEXIST, 'refusing to replace a %s with a file'
                          % ('directory' if snapshot.kind == 'dir' else 'special file'), path)
        self._changing(path)
        self.make_dirs(os.path.dirname(path))
        made = None
        if backup and snapshot.kind == 'file' and path not in self.backups and self.backup_local is not None:
            try:
                made = self.backup_local(path)
            except OSError:
                raise
            except Exception as error:  # backup_local raises plain Exception
                raise OSError(errno.EIO, 'could not back up %s: %s' % (path, error))
            if made:
                self.backups[path] = made
        self._replace(path, data, mode, uid, gid)
        return made or self.backups.get(path)

    def remove(self, path, prune_empty_dir=False):
        """Remove ``path`` (remembered); with ``prune_empty_dir`` its directory too when nothing else is in it."""
        snapshot = self.snapshot(path)
        if not snapshot.exists and not os.path.lexists(path):
            return
        self._changing(path)
        if os.path.lexists(path):
            os.unlink(path)
        directory = os.path.dirname(path)
        if prune_empty_dir and directory and not os.listdir(directory):
            removed = Snapshot(directory)
            os.rmdir(directory)
            if directory in self.created_dirs:
                self.created_dirs.remove(directory)
            else:
                self.removed_dirs.append(removed)

    def _new_symlink(self, target, directory):
        """A symlink to ``target`` under a fresh name in ``directory`` (to rename over the path)."""
        for dummy in range(100):
            name = os.path.join(directory, '%s%s' % (self.tmp_prefix, secrets.token_hex(8)))
            try:
                os.symlink(target, name)
                return name
            except FileExistsError:
                continue
        raise OSError(errno.EEXIST, 'no free temporary name', directory)

    def _restore_path(self, snapshot):
        path = snapshot.path
        try:
            current = os.lstat(path)
        except FileNotFoundError:
            current = None
        if snapshot.kind == 'absent':
            if current is not None:
                os.unlink(path)
            return
        if current is None or stat.S_ISREG(current.st_mode) or stat.S_ISLNK(current.st_mode):
            self.make_dirs(os.path.dirname(path))
        if snapshot.kind == 'symlink':
            if current is not None and stat.S_ISLNK(current.st_mode) and os.readlink(path) == snapshot.target:
                pass
            else:
                temporary = self._new_symlink(snapshot.target, os.path.dirname(path) or '.')
                try:
                    os.rename(temporary, path)
                finally:
                    if os.path.lexists(temporary):
                        os.unlink(temporary)
            if _is_root():
                os.lchown(path, snapshot.uid, snapshot.gid)
            return
        if snapshot.kind == 'file':
            same = False
            if current is not None and stat.S_ISREG(current.st_mode):
                with open(path, 'rb') as stream:
                    same = stream.read() == snapshot.data
            if same:
                if _is_root():
                    os.chown(path, snapshot.uid, snapshot.gid)
                os.chmod(path, snapshot.mode)
            else:
                self._replace(path, snapshot.data, snapshot.mode, snapshot.uid, snapshot.gid)
            return
        raise OSError(errno.EINVAL, 'cannot bring back a %s' % snapshot.kind, path)

    def restore(self):
        """Put every changed path back as it was; the problems met (empty when everything went back)."""
        problems = []
        for snapshot in self.removed_dirs:
            try:
                try:
                    os.mkdir(snapshot.path, 0o700)
                except FileExistsError:
                    pass
                if _is_root():
                    os.chown(snapshot.path, snapshot.uid, snapshot.gid)
                os.chmod(snapshot.path, snapshot.mode)
            except OSError as error:
                problems.append('%s: %s' % (snapshot.path, error.strerror or error))
        self.removed_dirs = []
        for path in reversed(self.changed):
            try:
                self._restore_path(self.snapshots[path])
            except OSError as error:
                problems.append('%s: %s' % (path, error.strerror or error))
        for path, backup in list(self.backups.items()):
            try:
                if os.path.lexists(backup):
                    os.unlink(backup)
                del self.backups[path]
            except OSError as error:
                problems.append('%s: %s' % (backup, error.strerror or error))
        for directory in reversed(self.created_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                pass  # not empty: something else put a file there; leave it
        self.created_dirs = []
        self.changed = []
        return problems
