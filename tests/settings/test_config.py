import dataclasses

import pytest
import tomlkit
from hypothesis import given, settings as hsettings, strategies as st
from conftest import REPO_ROOT

from lstm_vision.settings import (
    SECTIONS,
    Settings,
    apply_overrides,
    load_settings,
    parse_text,
    preset_names,
    preset_path,
    render_toml,
    save_settings,
)
from lstm_vision.errors import SettingsError


def test_defaults_round_trip_through_toml(tmp_path):
    path = tmp_path / "s.toml"
    save_settings(Settings(), path)
    assert load_settings(path) == Settings()


def test_shipped_settings_file_holds_the_defaults():
    import tomllib

    path = REPO_ROOT / "settings.toml"
    assert load_settings(path) == Settings()
    listed = {section: set(values) for section, values in tomllib.loads(path.read_text()).items()}
    assert listed == {section: set(values) for section, values in Settings().to_dict().items()}  # every key, documented


def test_every_field_has_help_and_a_default():
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert f.metadata["help"].strip(), f.name
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def test_design_contract_names_exist():
    names = {
        "data": [
            "dataset",
            "root",
            "download",
            "train_split",
            "channels",
            "sequence_length",
            "input_size",
            "num_workers",
            "pin_memory",
        ],
        "model": ["hidden_size", "num_layers", "bidirectional", "dropout"],
        "optim": ["learning_rate", "betas", "eps", "weight_decay", "schedule"],
        "train": [
            "epochs",
            "batch_size",
            "grad_accum_steps",
            "max_norm",
            "label_smoothing",
            "amp",
            "compile_mode",
            "seed",
            "log_every",
            "val_log_every",
            "checkpoint_every",
            "load_checkpoint",
        ],
        "system": ["device", "nproc", "ddp", "master_addr", "master_port"],
        "output": ["dir", "run_name"],
    }
    for section, keys in names.items():
        fields = {f.name for f in dataclasses.fields(SECTIONS[section])}
        assert set(keys) <= fields, set(keys) - fields


def test_overrides_parse_types_and_later_wins():
    s = apply_overrides(
        Settings(),
        [
            "train.epochs=3",
            "model.bidirectional=false",
            "optim.betas=[0.8, 0.99]",
            "train.amp=bf16",
            "train.epochs=4",
            "output.run_name='a b'",
        ],
    )
    assert (s.train.epochs, s.model.bidirectional, s.optim.betas, s.train.amp, s.output.run_name) == (
        4,
        False,
        [0.8, 0.99],
        "bf16",
        "a b",
    )


@pytest.mark.parametrize(
    "override, words",
    [
        ("model.dropout=1.0", ["model.dropout", "< 1"]),
        ("data.train_split=0", ["data.train_split", "> 0"]),
        ("data.train_split=1", ["data.train_split", "< 1"]),
        ("train.epochs=-1", ["train.epochs", ">= 0"]),
        ("model.hidden_size=0", ["model.hidden_size", ">= 1"]),
        ("optim.learning_rate=0", ["optim.learning_rate", "> 0"]),
        ("train.batch_size=2.5", ["train.batch_size", "whole number"]),
        ("train.amp=fp8", ["train.amp", "auto, off, bf16, fp16"]),
        ("train.compile_mode=fast", ["train.compile_mode", "max-autotune"]),
        ("model.bidirectional=maybe", ["model.bidirectional", "true or false"]),
        ("optim.betas=[0.9]", ["optim.betas", "two numbers"]),
        ("train.epoch=3", ["train.epoch", "did you mean 'epochs'"]),
        ("trian.epochs=3", ["[trian]", "did you mean 'train'"]),
        ("epochs=3", ["section.key=value"]),
    ],
)
def test_bad_overrides_name_the_setting(override, words):
    with pytest.raises(SettingsError) as err:
        apply_overrides(Settings(), [override])
    for word in words:
        assert word in str(err.value)


def test_malformed_toml_gives_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepochs = 3\nbatch_size = = 4\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value) and "column" in str(err.value)


def test_wrong_type_in_file_names_file_and_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[model]\nhidden_size = "big"\n')
    with pytest.raises(SettingsError, match=r"s\.toml: model\.hidden_size must be a whole number"):
        load_settings(path)


def test_unknown_key_in_file_suggests_closest(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[optim]\nlearning_rat = 0.1\n")
    with pytest.raises(SettingsError, match="did you mean 'learning_rate'"):
        load_settings(path)


def test_save_keeps_comments_of_existing_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("# my experiment\n[train]\n# few epochs for now\nepochs = 2\n")
    s = load_settings(path)
    s.train.epochs = 7
    save_settings(s, path)
    text = path.read_text()
    assert "# my experiment" in text and "# few epochs for now" in text
    assert load_settings(path).train.epochs == 7


def test_presets_load():
    assert {"cpu", "reference"} <= set(preset_names())
    for name in preset_names():
        load_settings(preset_path(name))
    assert load_settings(preset_path("reference")).model.bidirectional is True
    with pytest.raises(SettingsError, match="Unknown preset 'gpu'"):
        preset_path("gpu")


def test_form_text_parsing_matches_types():
    assert parse_text("train", "epochs", " 12 ") == 12
    assert parse_text("train", "epochs", "1e2") == 100
    assert parse_text("optim", "learning_rate", "3e-4") == pytest.approx(3e-4)
    assert parse_text("model", "bidirectional", "yes") is True
    assert parse_text("optim", "betas", "0.9, 0.95") == [0.9, 0.95]


_value = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3),
)
_section = st.sampled_from(list(SECTIONS) + ["nope"])
_key = st.one_of(st.sampled_from(sorted({f.name for c in SECTIONS.values() for f in dataclasses.fields(c)})), st.text(max_size=8))


@hsettings(max_examples=300, deadline=None)
@given(st.dictionaries(_section, st.dictionaries(_key, _value, max_size=4), max_size=3))
def test_any_settings_file_gives_settings_or_settings_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "s.toml"
    try:
        path.write_text(tomlkit.dumps(data))
    except Exception:
        return  # not representable as TOML (e.g. NaN inside a list is fine, but some keys are not)
    try:
        s = load_settings(path)
    except SettingsError as err:
        assert str(err)
        return
    assert isinstance(s, Settings)
    assert load_settings(path) == s


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_override_text_gives_settings_or_settings_error(text):
    try:
        apply_overrides(Settings(), [text])
    except SettingsError as err:
        assert str(err)


def test_render_is_valid_toml_for_defaults():
    assert tomlkit.parse(render_toml(Settings())).unwrap()["train"]["epochs"] == Settings().train.epochs


@pytest.mark.parametrize(
    "section,key,text",
    [
        ("train", "batch_size", "64_0"),  # int() takes underscores
        ("train", "batch_size", "٦٤"),  # and Arabic-Indic digits
        ("train", "epochs", "１２"),  # and full-width ones
        ("optim", "learning_rate", "1_0e-3"),
        ("optim", "learning_rate", "３e-4"),
        ("optim", "betas", "0.9, ０.99"),
    ],
)
def test_form_and_set_text_refuse_numbers_python_would_take(section, key, text):
    """Issue 16: the form took 64_0 as 640 and non-ASCII digits as numbers; typed numbers are ASCII."""
    with pytest.raises(SettingsError) as err:
        parse_text(section, key, text)
    assert f"{section}.{key}" in str(err.value)
    with pytest.raises(SettingsError):
        apply_overrides(Settings(), [f"{section}.{key}={text}"])


def test_a_settings_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\xef\xbb\xbf[train]\nepochs = 3\n")  # as Windows editors save UTF-8
    assert load_settings(path).train.epochs == 3


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "..", "a/b"])
def test_run_name_must_be_one_plain_folder_name(name, tmp_path):
    with pytest.raises(SettingsError, match="output.run_name must be one plain folder name"):
        apply_overrides(Settings(), [f"output.run_name={name}"])
    path = tmp_path / "settings.toml"
    path.write_text(f'[output]\nrun_name = "{name}"\n')
    with pytest.raises(SettingsError, match="output.run_name must be one plain folder name"):
        load_settings(path)


def test_the_reference_preset_is_the_reference_run():
    from lstm_vision.settings import preset_path

    s = load_settings(preset_path("reference"))
    assert (s.model.hidden_size, s.model.num_layers, s.model.bidirectional) == (256, 3, True)
    assert (s.model.dropout, s.model.lstm_dropout) == (0.2, 0.0)
    assert (s.optim.learning_rate, s.optim.schedule, s.optim.weight_decay) == (2e-3, "constant", 0.0)
    assert (s.optim.betas, s.optim.eps) == ([0.9, 0.999], 1e-8)
    assert (s.train.label_smoothing, s.train.amp, s.train.epochs, s.train.batch_size) == (0.1, "fp16", 50, 16384)
    assert s.data.train_split == pytest.approx(5 / 6)


def test_ddp_means_one_process_per_gpu_and_says_so_without_one(monkeypatch):
    import torch
    from lstm_vision.dispatch import runner_for

    monkeypatch.delenv("RANK", raising=False)
    s = Settings()
    s.system.ddp = True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match="system.ddp = true runs one process per GPU and this machine has none"):
        runner_for(s)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    from lstm_vision.distributed.torchrun import launch_local

    assert runner_for(s) is launch_local and s.system.nproc == 4


def test_saving_over_a_file_drops_what_is_no_setting_and_keeps_its_comments(tmp_path):
    """The app saves the form over an invalid settings file to fix it: a key the schema does not know (a typo)
    would keep the file invalid; it goes, with its section when that is no section of the settings."""
    from lstm_vision.settings.toml import file_values

    path = tmp_path / "settings.toml"
    path.write_text("# mine\n[model]\nhiden = 3\nhidden_size = 0\n\n[modle]\nx = 1\n", encoding="utf-8")
    assert file_values(path) == {"model.hidden_size": 0}  # the known settings it names, valid or not
    save_settings(Settings(), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# mine") and "hiden" not in text and "[modle]" not in text
    assert load_settings(path) == Settings()
