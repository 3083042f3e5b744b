# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host lock and the transaction, on a real temporary tree, with a real AnsibleModule's atomic_move and backups.

The lock is taken in a directory under the test's tmp_path (``directory=``), never
in the host's /run/buildfleet-mirrors; contention is between real processes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import COLLECTIONS_ROOT

from ansible.module_utils import basic

from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import (
    LOCK_FILE,
    HostLock,
    LockError,
    LockTimeout,
    backup_copy,
    Snapshot,
    Transaction,
)

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason='owners are only set as root')

HOLDER_SCRIPT = textwrap.dedent('''
    import sys
    from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import HostLock, LockTimeout
    directory, holder, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    try:
        with HostLock(timeout, directory=directory, holder=holder):
            print('locked', flush=True)
            sys.stdin.readline()  # hold the lock until the test writes a line
    except LockTimeout as error:
        print('timeout', error, flush=True)
        sys.exit(3)
''')


@pytest.fixture
def lock_dir(tmp_path):
    directory = tmp_path / 'lock'
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)
    return directory


@pytest.fixture
def holder_process(tmp_path):
    """Start a real process that takes the lock with a holder name; the test ends it by writing a line."""
    started = []

    def start(directory, holder, timeout=30):
        process = subprocess.Popen(
            [sys.executable, '-c', HOLDER_SCRIPT, str(directory), holder, str(timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=str(COLLECTIONS_ROOT)))
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture
def module(tmp_path):
    """A real AnsibleModule: its atomic_move and backup_local are what the writer modules pass."""
    arguments = {'_ansible_tmpdir': str(tmp_path), '_ansible_remote_tmp': str(tmp_path)}
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': arguments}).encode()
        try:
            yield basic.AnsibleModule(argument_spec={})
        finally:
            basic._ANSIBLE_ARGS = old
        return
    with patch_module_args(arguments):
        yield basic.AnsibleModule(argument_spec={})


@pytest.fixture
def txn():
    """The transaction as the writer modules make it: its own rename and backup, never the module's."""
    return Transaction()


def test_a_failed_rename_is_an_error_the_writer_catches_not_the_end_of_the_module(tmp_path, txn):
    # AnsibleModule.atomic_move of ansible-core before 2.19 ends the module (fail_json) when it cannot rename,
    # which would skip the restore; the transaction's own rename raises an OSError, which the writer catches.
    first = tmp_path / 'first'
    first.write_text('one\n')
    txn.write(str(first), 'changed\n')
    first.unlink()
    first.mkdir()
    (first / 'inside').write_text('x')
    with pytest.raises(OSError):
        txn.write(str(first), 'again\n')


def test_a_backup_keeps_the_bytes_owner_and_mode_beside_the_file(tmp_path, txn):
    path = tmp_path / 'environment'
    path.write_bytes(b'PATH="/usr/bin"\n\xff')
    path.chmod(0o640)
    backup = txn.write(str(path), 'new\n', backup=True)
    assert os.path.dirname(backup) == str(tmp_path) and backup.startswith(str(path) + '.') and backup.endswith('~')
    assert open(backup, 'rb').read() == b'PATH="/usr/bin"\n\xff'
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640
    assert txn.restore() == []
    assert not os.path.exists(backup)
    assert path.read_bytes() == b'PATH="/usr/bin"\n\xff'


def state(path):
    """(type, mode, uid, gid, bytes or link target) of a path, or None when absent."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        content = os.readlink(path)
    elif stat.S_ISREG(info.st_mode):
        content = open(path, 'rb').read()
    else:
        content = None
    return stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, content


def tree(root):
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = state(path)
    return found


# --- The host lock ----------------------------------------------------------------------------------------------

def test_a_second_run_times_out_with_a_message_naming_the_holder(lock_dir, holder_process):
    holder = holder_process(lock_dir, 'buildfleet.mirrors.go_proxy')
    assert holder.stdout.readline() == 'locked\n'
    with pytest.raises(LockTimeout) as caught:
        with HostLock(0.5, directory=str(lock_dir), holder='buildfleet.mirrors.docker_mirrors'):
            pytest.fail('the lock was taken while another process held it')
    message = str(caught.value)
    assert message.startswith('another buildfleet.mirrors run (pid %d, buildfleet.mirrors.go_proxy, since '
                              % holder.pid)
    assert message.endswith(') holds the host lock %s; waited 0.5 s (lock_timeout)' % (lock_dir / LOCK_FILE))
    holder.stdin.write('\n')
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0


def test_a_second_process_waits_for_the_first_then_runs(lock_dir, holder_process):
    first = holder_process(lock_dir, 'first')
    assert first.stdout.readline() == 'locked\n'
    second = holder_process(lock_dir, 'second', timeout=60)
    # The second one is waiting: it has not exited (a timeout would print and exit 3) and holds nothing.
    with pytest.raises(subprocess.TimeoutExpired):
        second.wait(timeout=1)
    assert (lock_dir / LOCK_FILE).read_text().split()[:2] == [str(first.pid), 'first']
    first.stdin.write('\n')
    first.stdin.flush()
    assert first.wait(timeout=30) == 0
    assert second.stdout.readline() == 'locked\n'
    assert (lock_dir / LOCK_FILE).read_text().split()[:2] == [str(second.pid), 'second']
    second.stdin.write('\n')
    second.stdin.flush()
    assert second.wait(timeout=30) == 0


def test_the_lock_is_taken_again_after_release_and_the_file_stays(lock_dir):
    with HostLock(1, directory=str(lock_dir), holder='one'):
        record = (lock_dir / LOCK_FILE).read_text().split()
        assert record[:2] == [str(os.getpid()), 'one'] and record[2].endswith('+00:00')
    with HostLock(1, directory=str(lock_dir), holder='two'):
        pass
    info = os.lstat(lock_dir / LOCK_FILE)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600


def test_a_missing_lock_directory_is_made_owner_only(tmp_path):
    directory = tmp_path / 'made'
    with HostLock(1, directory=str(directory)):
        pass
    info = os.lstat(directory)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()


def test_a_symlinked_lock_directory_is_refused(tmp_path, lock_dir):
    link = tmp_path / 'link'
    link.symlink_to(lock_dir)
    with pytest.raises(LockError, match='the lock directory %s is a symlink; refusing' % link):
        with HostLock(1, directory=str(link)):
            pass
    assert not (lock_dir / LOCK_FILE).exists()


@pytest.mark.parametrize('mode', [0o770, 0o703, 0o777])
def test_a_lock_directory_writable_by_others_is_refused(lock_dir, mode):
    os.chmod(lock_dir, mode)
    with pytest.raises(LockError, match=r'is writable by group or others \(mode %04o\)' % mode):
        with HostLock(1, directory=str(lock_dir)):
            pass
    assert not (lock_dir / LOCK_FILE).exists()


def test_a_lock_directory_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / 'file'
    path.write_text('x')
    with pytest.raises(LockError, match='is not a directory'):
        with HostLock(1, directory=str(path)):
            pass


@needs_root
def test_a_lock_directory_owned_by_another_user_is_refused(lock_dir):
    os.chown(lock_dir, 4242, 4242)
    with pytest.raises(LockError, match='is owned by uid 4242, not root'):
        with HostLock(1, directory=str(lock_dir)):
            pass


def test_a_symlink_planted_as_the_lock_file_is_not_followed(tmp_path, lock_dir):
    target = tmp_path / 'victim'
    target.write_text('precious\n')
    (lock_dir / LOCK_FILE).symlink_to(target)
    with pytest.raises(LockError, match='the lock file %s is a symlink; refusing to follow it' % (lock_dir / LOCK_FILE)):
        with HostLock(1, directory=str(lock_dir)):
            pass
    assert target.read_text() == 'precious\n'
    dangling = tmp_path / 'lock2'
    dangling.mkdir(mode=0o700)
    (dangling / LOCK_FILE).symlink_to(tmp_path / 'would-be-created')
    with pytest.raises(LockError, match='is a symlink'):
        with HostLock(1, directory=str(dangling)):
            pass
    assert not (tmp_path / 'would-be-created').exists()


# --- Snapshots and restore ----------------------------------------------------------------------------------------

def test_a_regular_file_goes_back_byte_for_byte_with_owner_and_mode(tmp_path, txn):
    path = tmp_path / 'environment'
    path.write_bytes(b'LANG=C\n\xff raw bytes\n')
    os.chmod(path, 0o600)
    if ROOT:
        os.chown(path, 4242, 4343)
    before = state(path)
    assert txn.write(str(path), 'GOPROXY=https://a.example\n') is None
    assert state(path)[1:] == (0o644, 0, 0, b'GOPROXY=https://a.example\n') if ROOT else True
    txn.write(str(path), b'second write\n')  # the first snapshot is the one kept
    assert txn.changed_paths == [str(path)]
    assert txn.restore() == []
    assert state(path) == before
    assert sorted(os.listdir(tmp_path)) == ['environment']  # no temporary file left


def test_a_path_that_was_absent_is_removed_with_the_directories_made_for_it(tmp_path, txn):
    (tmp_path / 'etc').mkdir()
    before = tree(tmp_path)
    dropin = tmp_path / 'etc' / 'system' / 'runner.service.d' / 'go-proxy.conf'
    txn.write(str(dropin), '[Service]\n')
    assert state(dropin)[1:] == ((0o644, 0, 0) if ROOT else (0o644, os.geteuid(), os.getegid())) + (b'[Service]\n',)
    assert state(dropin.parent)[1] == 0o755
    assert txn.restore() == []
    assert tree(tmp_path) == before


def test_a_symlink_goes_back_as_the_same_symlink_and_its_target_is_untouched(tmp_path, txn):
    """A packaged go.env is a symlink into /usr/share: restored as that link, never as the text 'None', never 0777."""
    target = tmp_path / 'share' / 'go.env'
    target.parent.mkdir()
    target.write_text('GOPROXY=https://proxy.golang.org,direct\n')
    os.chmod(target, 0o644)
    goroot = tmp_path / 'lib'
    goroot.mkdir()
    link = goroot / 'go.env'
    link.symlink_to('../share/go.env')
    before, target_before = state(link), state(target)
    txn.write(str(link), 'GOPROXY=https://goproxy.corp.example.com\n', backup=True)
    # The link itself was replaced by a regular file of mode 0644; its target kept its bytes and mode.
    assert stat.S_ISREG(os.lstat(link).st_mode) and stat.S_IMODE(os.lstat(link).st_mode) == 0o644
    assert state(target) == target_before
    assert txn.backups == {}  # only regular files are backed up
    assert txn.restore() == []
    assert state(link) == before
    assert os.readlink(link) == '../share/go.env'
    assert state(target) == target_before
    assert open(link).read() == 'GOPROXY=https://proxy.golang.org,direct\n'


def test_a_removed_symlink_comes_back_as_the_symlink(tmp_path, txn):
    link = tmp_path / 'go-proxy.sh'
    link.symlink_to('/nonexistent/elsewhere')
    before = state(link)
    txn.remove(str(link))
    assert not os.path.lexists(link)
    assert txn.restore() == []
    assert state(link) == before


def test_modes_are_never_widened_on_the_way(tmp_path, module):
    """atomic_move copies the old file's mode onto the new one, and gives a new file 0666 & ~umask.

    Neither may widen a mode, even for the moment between the rename and the final chmod: the
    mode at the destination before and after each atomic_move is never wider than the old and the
    new mode allow.
    """
    seen = []

    def atomic_move(source, dest):
        before = stat.S_IMODE(os.stat(dest).st_mode) if os.path.exists(dest) else None
        module.atomic_move(source, dest, unsafe_writes=False)
        seen.append((os.path.basename(dest), before, stat.S_IMODE(os.stat(dest).st_mode)))

    txn = Transaction(atomic_move, module.backup_local)
    secret = tmp_path / 'secret'
    secret.write_text('GOPROXY=https://user:token@proxy.example\n')
    os.chmod(secret, 0o600)
    shared = tmp_path / 'shared'
    shared.write_text('old\n')
    os.chmod(shared, 0o666)
    new = tmp_path / 'new'
    txn.write(str(secret), 'GOPROXY=https://proxy.example\n')
    txn.write(str(shared), 'new\n')
    txn.write(str(new), 'new\n', mode=0o640)
    assert [stat.S_IMODE(os.stat(path).st_mode) for path in (secret, shared, new)] == [0o644, 0o644, 0o640]
    assert txn.restore() == []
    assert [state(path)[1] if state(path) else None for path in (secret, shared, new)] == [0o600, 0o666, None]
    assert seen == [
        ('secret', 0o600, 0o600),   # the new text takes 0644 only after the rename
        ('shared', 0o644, 0o644),   # the old 0666 was narrowed to 0644 before atomic_move copied it
        ('new', None, 0o600),       # umask 077 while atomic_move gives the new file its first mode
        ('shared', 0o644, 0o644),   # restore: back to 0666 only once the old text is in place
        ('secret', 0o600, 0o600),   # restore: the policy file was narrowed to 0600 before the old text came back
    ]


def test_a_removed_directory_comes_back_with_its_mode_and_owner(tmp_path, txn):
    directory = tmp_path / 'runner.service.d'
    directory.mkdir()
    os.chmod(directory, 0o750)
    if ROOT:
        os.chown(directory, 4242, 4242)
    dropin = directory / 'go-proxy.conf'
    dropin.write_text('# Managed\n')
    before = tree(tmp_path)
    txn.remove(str(dropin), prune_empty_dir=True)
    assert not directory.exists()
    assert txn.restore() == []
    assert tree(tmp_path) == before


def test_a_directory_with_other_files_is_not_pruned(tmp_path, txn):
    directory = tmp_path / 'runner.service.d'
    directory.mkdir()
    (directory / 'go-proxy.conf').write_text('x\n')
    (directory / 'local.conf').write_text('y\n')
    txn.remove(str(directory / 'go-proxy.conf'), prune_empty_dir=True)
    assert sorted(os.listdir(directory)) == ['local.conf']


def test_backups_made_by_the_run_are_deleted_by_restore(tmp_path, txn):
    path = tmp_path / 'environment'
    path.write_text('LANG=C\n')
    backup = txn.write(str(path), 'LANG=C\nGOPROXY=off\n', backup=True)
    assert backup and open(backup).read() == 'LANG=C\n'
    assert txn.backups == {str(path): backup}
    assert txn.write(str(path), 'third\n', backup=True) == backup  # one backup per path and run
    assert txn.restore() == []
    assert not os.path.exists(backup)
    assert txn.backups == {}
    assert path.read_text() == 'LANG=C\n'


def test_restore_collects_a_problem_and_puts_the_other_paths_back(tmp_path, txn):
    first, second = tmp_path / 'first', tmp_path / 'second'
    first.write_text('one\n')
    second.write_text('two\n')
    txn.write(str(first), 'changed\n')
    txn.write(str(second), 'changed\n')
    # Something replaced the first path by a directory with a file in it: it cannot go back.
    first.unlink()
    first.mkdir()
    (first / 'inside').write_text('x')
    problems = txn.restore()
    assert len(problems) == 1 and problems[0].startswith('%s: ' % first)
    assert second.read_text() == 'two\n'


def test_a_directory_or_special_file_is_never_replaced(tmp_path, txn):
    (tmp_path / 'dir').mkdir()
    os.mkfifo(tmp_path / 'fifo')
    for name in ('dir', 'fifo'):
        with pytest.raises(OSError, match='refusing to replace'):
            txn.write(str(tmp_path / name), 'x\n')
    assert txn.changed_paths == []
    assert stat.S_ISFIFO(os.lstat(tmp_path / 'fifo').st_mode)


def test_removing_an_absent_path_changes_nothing(tmp_path, txn):
    txn.remove(str(tmp_path / 'nothing'))
    assert txn.changed_paths == []
    assert txn.restore() == []


def test_snapshot_kinds(tmp_path):
    (tmp_path / 'file').write_bytes(b'x')
    (tmp_path / 'link').symlink_to('file')
    (tmp_path / 'dir').mkdir()
    os.mkfifo(tmp_path / 'fifo')
    kinds = {name: Snapshot(str(tmp_path / name)) for name in ('file', 'link', 'dir', 'fifo', 'absent')}
    assert {name: snapshot.kind for name, snapshot in kinds.items()} == {
        'file': 'file', 'link': 'symlink', 'dir': 'dir', 'fifo': 'other', 'absent': 'absent'}
    assert (kinds['file'].data, kinds['link'].target, kinds['link'].data) == (b'x', 'file', None)


def test_two_backups_of_one_file_in_the_same_second_both_keep_their_bytes(tmp_path):
    # The same go.env reached through two paths (Debian's /usr/lib/go links to go-1.24) was backed up twice in one
    # second: the second backup must not fail, nor overwrite the first.
    path = tmp_path / 'go.env'
    path.write_text('GOTOOLCHAIN=auto\n')
    first = backup_copy(str(path))
    path.write_text('changed\n')
    second = backup_copy(str(path))
    assert first != second
    assert open(first).read() == 'GOTOOLCHAIN=auto\n' and open(second).read() == 'changed\n'
