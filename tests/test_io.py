"""Output checks made before any work, and the rule that no output is ever written over an input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from helpers.small_disk import needs_small_disk, run_wmemb_on_small_disk
from wmemb.errors import WMEmbError
from wmemb.io import (
    atomic_dir,
    check_output_file,
    check_output_model_dir,
    full_disk_is_an_error,
    reject_overwriting_inputs,
)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o027, 0o750)])
def test_atomic_dir_gives_the_new_folder_the_umasks_permissions(tmp_path, umask, mode):
    target = tmp_path / "model"
    script = (
        f"import os; os.umask({umask:#o})\n"
        "from wmemb.io import atomic_dir\n"
        f"with atomic_dir({str(target)!r}) as folder:\n"
        "    (folder / 'config.json').write_text('{}')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert stat.S_IMODE((target / "config.json").stat().st_mode) == mode & 0o666


def test_an_output_may_not_be_an_input_under_any_name(tmp_path):
    data = tmp_path / "train_dataset.json"
    data.write_text("{}", encoding="utf-8")
    os.symlink(data, tmp_path / "symlink.json")
    os.link(data, tmp_path / "hardlink.json")
    for name in ("train_dataset.json", "symlink.json", "hardlink.json", "./sub/../train_dataset.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(WMEmbError, match=r"would write over the input DATASET \(.*train_dataset\.json\)"):
            reject_overwriting_inputs([tmp_path / name], [("DATASET", data)])
    reject_overwriting_inputs([tmp_path / "mined.jsonl"], [("DATASET", data), ("--val", None)])


def test_an_output_folder_may_not_hold_an_input(tmp_path):
    terms = tmp_path / "out" / "terms.txt"
    terms.parent.mkdir()
    terms.write_text("芽孢杆菌\n", encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"out: this output would write over the input --words-file"):
        reject_overwriting_inputs([tmp_path / "out"], [("--words-file", terms)])
    reject_overwriting_inputs([tmp_path / "out" / "model"], [("--words-file", terms)])  # a sibling is fine


def test_output_checks_create_nothing(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(WMEmbError, match="names a folder; name a file"):
        check_output_file(tmp_path / "taken")
    with pytest.raises(WMEmbError, match=r"a-file is a file; choose another path"):
        check_output_file(tmp_path / "a-file" / "deeper" / "out.jsonl")
    with pytest.raises(WMEmbError, match="output folder exists; pass --overwrite"):
        check_output_model_dir(tmp_path / "taken", overwrite=False)
    assert check_output_file(tmp_path / "new" / "deeper" / "out.jsonl") == tmp_path / "new" / "deeper" / "out.jsonl"
    check_output_model_dir(tmp_path / "taken", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "taken"]


def test_a_full_disk_at_the_write_is_one_line_naming_the_folder(tmp_path):
    # /dev/full answers every write with ENOSPC, as a full disk does
    with pytest.raises(WMEmbError) as error:
        with full_disk_is_an_error(tmp_path / "model", "the model folder", needed=3_000_000):
            with open("/dev/full", "w", encoding="utf-8") as handle:
                handle.write("{}")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'model'}: the disk is full (")
    assert "while writing the model folder, it needs about 3 MB" in message
    assert "earlier stages and files already written are kept" in message


def test_other_write_errors_keep_their_own_message(tmp_path):
    with pytest.raises(PermissionError):
        with full_disk_is_an_error(tmp_path, "the model folder"):
            raise PermissionError(13, "Permission denied")


@needs_small_disk
def test_expand_onto_a_full_disk_is_one_line_and_leaves_nothing(tiny_bert, tmp_path):
    disk = tmp_path / "disk"
    done = run_wmemb_on_small_disk(disk, "64k", "expand", tiny_bert, disk / "expanded", "--words", "芽孢杆菌")
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output
    assert f"error: {disk / 'expanded'}: the disk is full (" in output
    assert "free) while writing the model folder, it needs about" in output
    assert done.stdout.splitlines()[-1] == "left:"  # the partial temporary folder is gone


def test_atomic_dir_removes_what_a_killed_writer_left_and_keeps_the_rest(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(gone.stdout), os.getpid()
    target = tmp_path / "model"
    target.mkdir()
    stale_tmp = tmp_path / f".model.{dead}.k2j4.tmp"
    stale_old = tmp_path / f".model.old-{dead}"
    running = tmp_path / f".model.{alive}.x9z1.tmp"  # a live writer's: never touched
    other = tmp_path / f".modelx.{dead}.a1.tmp"  # another output's
    for folder in (stale_tmp, stale_old, running, other):
        (folder / "sub").mkdir(parents=True)

    with atomic_dir(target, overwrite=True) as folder:
        (folder / "weights").write_text("new")

    assert (target / "weights").read_text() == "new"
    assert not stale_tmp.exists() and not stale_old.exists()
    assert running.is_dir() and other.is_dir()


def test_atomic_dir_keeps_an_old_copy_when_the_kill_came_between_the_renames(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    only_copy = tmp_path / f".model.old-{int(gone.stdout)}"
    (only_copy / "weights").parent.mkdir()
    (only_copy / "weights").write_text("old")

    with atomic_dir(tmp_path / "model") as folder:
        (folder / "weights").write_text("new")

    assert (only_copy / "weights").read_text() == "old"  # the target was missing when the write began
