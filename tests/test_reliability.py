import errno
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
import torch

from lstm_vision import events as ev
from lstm_vision import atomic as fsutil
from lstm_vision.model.checkpoint import load_checkpoint
from lstm_vision.settings import Settings, save_settings
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run
from lstm_vision.model.lstm import LSTMClassifier


def test_sigkill_during_a_save_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "last.pt"
    child = textwrap.dedent(f"""
        import sys, time, torch
        from lstm_vision.model.checkpoint import save_checkpoint
        from lstm_vision.atomic import atomic_write
        save_checkpoint({{"state_dict": {{"w": torch.ones(3)}}, "epoch": 1}}, {str(target)!r})
        def slow(handle):
            handle.write(b"PK" + b"x" * 100000)
            handle.flush()
            print("writing", flush=True)
            time.sleep(600)
        atomic_write({str(target)!r}, slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    state = load_checkpoint(target)
    assert state["epoch"] == 1 and torch.equal(state["state_dict"]["w"], torch.ones(3))


def test_settings_save_is_atomic_too(tmp_path, monkeypatch):
    path = tmp_path / "settings.toml"
    save_settings(Settings(), path)
    before = path.read_text()

    def fail(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", fail)
    changed = Settings()
    changed.train.epochs = 99
    with pytest.raises(OSError):
        save_settings(changed, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]  # no temp file left behind


def test_full_disk_while_saving_ends_the_run_and_keeps_the_previous_checkpoint(tiny_settings, monkeypatch):
    import lstm_vision.model.checkpoint as ckpt

    saves = {"n": 0}
    real_atomic_write = ckpt.atomic_write

    def atomic_write(path, write):
        saves["n"] += 1
        if saves["n"] > 2:  # epoch 1's best.pt and last.pt succeed; epoch 2's saves hit a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_atomic_write(path, write)

    monkeypatch.setattr(ckpt, "atomic_write", atomic_write)
    events = []
    result = run(tiny_settings, events.append, RunControl())
    assert result.status == "failed" and result.exit_code == 1
    failed = [e for e in events if isinstance(e, ev.RunFailed)][0]
    assert "disk is full" in failed.message and result.run_dir in failed.message
    assert load_checkpoint(f"{result.run_dir}/last.pt")["epoch"] == 1


def test_out_of_memory_is_explained_with_batch_size_and_precision(tiny_settings, monkeypatch):
    def oom(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(LSTMClassifier, "forward", oom)
    events = []
    result = run(tiny_settings, events.append, RunControl())
    assert result.status == "failed"
    message = [e for e in events if isinstance(e, ev.RunFailed)][0].message
    assert "out of memory" in message and "train.batch_size = 50" in message and "fp32" in message
    assert json.loads(open(f"{result.run_dir}/summary.json").read())["status"] == "failed"


def test_unwritable_output_folder_is_one_sentence(tiny_settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    tiny_settings.output.dir = str(blocker / "runs")
    with pytest.raises(SettingsError, match="output.dir .*a-file/runs is not writable"):
        run(tiny_settings, lambda e: None, RunControl())


def test_existing_run_name_is_never_overwritten(tiny_settings):
    tiny_settings.train.epochs = 1
    first = run(tiny_settings, lambda e: None, RunControl())
    second = run(tiny_settings, lambda e: None, RunControl())
    assert first.run_dir.endswith("/test") and second.run_dir.endswith("/test-2")


def test_resume_of_a_folder_without_checkpoint_is_refused(tiny_settings, tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        run(tiny_settings, lambda e: None, RunControl(), resume=str(tmp_path))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_keep_the_mode_or_follow_the_umask(tmp_path, umask):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.runs.folder import write_summary

    old = os.umask(umask)
    try:
        save_settings(Settings(), tmp_path / "settings.toml")  # new files: 0666 & ~umask, as open() makes them
        save_checkpoint({"state_dict": {}}, tmp_path / "last.pt")
        write_summary(tmp_path, {"status": "completed"})
        mine = tmp_path / "mine.toml"  # a user's own file keeps the mode they gave it
        mine.write_text("[train]\nepochs = 3\n")
        mine.chmod(0o664)
        save_settings(Settings(), mine)
    finally:
        os.umask(old)
    for name in ("settings.toml", "last.pt", "summary.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert stat.S_IMODE(mine.stat().st_mode) == 0o664
