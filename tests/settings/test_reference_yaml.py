"""The reference's configs/conf.yaml read as it is (--config conf.yaml), its names after --set, and the README's
table of them. The files here are written in the reference's format: its latest conf.yaml (May 2026) and the
first one (May 2024), whose keys differ a little."""

import re
import tomllib

import pytest
from conftest import REPO_ROOT
from processes import cli

from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings, apply_overrides, load_reference_yaml, load_settings
from lstm_vision.settings.reference_keys import KEYS
from lstm_vision.settings.reference_yaml import readme_table

LATEST = """\
dataset:
  channels_img: 1
  train_split: 0.8333333333333334  # 5 / 6

dataloading:
  num_workers: 4
  pin_memory: true

model:
  loading_path: null
  num_layers: 3
  hidden_size: 256
  bidirectional: true
  dropout: 0.2

optim:
  learning_rate: 2e-3
  beta_1: 0.9
  beta_2: 0.999
  eps: 1e-8
  weight_decay: 0.0
  T_0: 20
  T_mult: 1
  eta_min: 0

training:
  seed_number: 0
  use_ddp: false
  master_addr: null
  master_port: null
  use_amp: true  # automatic mixed precision
  batch_size: 8192
  max_norm: null  # max norm for gradient clipping
  num_grad_accum_steps: 1
  num_epochs: 50
  wandb__api_key: null
  num_additional_cps: 2
  saving_path: "outputs"
  label_smoothing: 0.1
  compilation_mode: "default"  # for `torch.compile`
"""

FIRST = """\
dataset:
  channels_img: 1
  train_split: 0.8333333333333334  # 5 / 6

dataloading:
  num_workers: 4
  pin_memory: true

model:
  loading_path: null
  num_layers: 3
  hidden_size: 256
  bidirectional: true
  dropout: 0.2

optim:
  learning_rate: 2e-3
  beta_1: 0.9
  beta_2: 0.999
  eps: 1e-8
  weight_decay: 0.0

training:
  seed_number: 0
  use_ddp: false
  use_amp: true  # automatic mixed precision
  batch_size: 16384
  max_norm: null  # max norm for gradient clipping
  num_grad_accum_steps: 1
  num_epochs: 50
  wandb__api_key: null
  compile_mode: null  # `torch.compile()`
  num_additional_cps: 2
  saving_path: "outputs/0"
  label_smoothing: 0.1
  freq_output__train: null  # logging frequency training
  freq_output__val: null    # logging frequency validation
"""


def write(tmp_path, text: str, name: str = "conf.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path, text: str) -> tuple[Settings, list[str]]:
    return load_reference_yaml(write(tmp_path, text))


def with_training(**keys) -> str:
    """A conf.yaml of the latest shape with ``keys`` of its training section replaced (None -> null)."""
    text = LATEST
    for key, value in keys.items():
        written = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        text, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {written}", text)
        if not count:
            text += f"  {key}: {written}\n"
    return text


def note_about(notes: list[str], key: str) -> str:
    found = [note for note in notes if note.startswith(key)]
    assert len(found) == 1, notes
    return found[0]


def test_the_latest_conf_yaml_prints_as_the_expected_toml(tmp_path):
    write(tmp_path, LATEST)
    result = cli("--no-ui", "--config", "conf.yaml", "--print-settings", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = tomllib.loads(result.stdout)
    expected = Settings().to_dict()
    expected["data"] |= {"num_workers": 4, "pin_memory": True, "normalization": "reference"}
    expected["model"] |= {"lstm_dropout": 0.0}
    expected["optim"] |= {"weight_decay": 0.0, "schedule": "cosine", "warmup_fraction": 0.0}
    expected["train"] |= {
        "epochs": 50,
        "batch_size": 8192,
        "amp": "fp16",
        "compile_mode": "default",
        "checkpoint_every": 25,
        "max_norm": 0.0,
    }
    expected["output"] |= {"dir": "outputs"}
    assert printed == expected
    notes = [line.removeprefix("note: ") for line in result.stderr.splitlines()]
    assert all(line.startswith("note: ") for line in result.stderr.splitlines()), result.stderr
    assert (
        notes[0]
        == 'conf.yaml is read as the reference\'s code runs it, so also data.normalization = "reference", model.lstm_dropout = 0.'
    )
    assert {note.split(" ")[0] for note in notes[1:]} == {
        "optim.T_0",
        "training.use_amp",
        "training.num_additional_cps",
        "training.saving_path",
    }
    assert not (tmp_path / "settings.toml").exists()  # read, and nothing written


def test_the_first_conf_yaml_of_2024_reads_too(tmp_path):
    settings, notes = load(tmp_path, FIRST)
    assert (settings.optim.schedule, settings.optim.warmup_fraction) == ("constant", 0.0)  # its rate was constant
    assert (settings.train.batch_size, settings.train.compile_mode, settings.output.dir) == (16384, "off", "outputs/0")
    assert settings.train.log_every == Settings().train.log_every
    assert note_about(notes, "training.freq_output__train = null").endswith(
        "lstm-vision reports every train.log_every = 50 steps all the same (its charts and journal use them)."
    )
    assert not [note for note in notes if note.startswith("training.freq_output__val")]  # null asks for nothing
    assert 'optim.schedule = "constant"' in notes[0]


@pytest.mark.parametrize("count, epochs, every", [(2, 50, 25), (3, 50, 16), (7, 50, 7), (5, 2, 1), (0, 50, 0), (2, 0, 0)])
def test_num_additional_cps_is_a_count_and_becomes_an_interval(tmp_path, count, epochs, every):
    settings, notes = load(tmp_path, with_training(num_additional_cps=count, num_epochs=epochs))
    assert settings.train.checkpoint_every == every
    said = [note for note in notes if note.startswith("training.num_additional_cps")]
    if every:
        assert said == [
            f"training.num_additional_cps = {count} counts extra checkpoints, train.checkpoint_every is an interval: "
            f"with {epochs} epochs that is train.checkpoint_every = {every} (epoch-NNN.pt every {every} epochs)."
        ]
    else:
        assert said == []


def test_num_epochs_is_read_before_num_additional_cps_whatever_the_order(tmp_path):
    text = LATEST.replace("  num_epochs: 50\n", "") + "  num_epochs: 10\n"  # after num_additional_cps in the file
    settings, _ = load(tmp_path, text)
    assert (settings.train.epochs, settings.train.checkpoint_every) == (10, 5)


@pytest.mark.parametrize("value, amp", [(True, "fp16"), (False, "off")])
def test_use_amp_is_fp16_as_the_reference_or_off(tmp_path, value, amp):
    settings, notes = load(tmp_path, with_training(use_amp=value))
    assert settings.train.amp == amp
    said = [note for note in notes if note.startswith("training.use_amp")]
    assert said == (
        [
            "training.use_amp = true is train.amp = fp16 (autocast with a GradScaler, as the reference), "
            "which needs a CUDA GPU: on a CPU add --set train.amp=auto."
        ]
        if value
        else []
    )


def test_use_amp_that_is_not_true_or_false_is_refused(tmp_path):
    with pytest.raises(SettingsError, match=r"conf.yaml: training.use_amp must be true or false, not \"yes please\"\.$"):
        load(tmp_path, with_training(use_amp='"yes please"'))


def test_saving_path_is_the_folder_of_the_runs(tmp_path):
    settings, notes = load(tmp_path, with_training(saving_path="/data/lstm-runs"))
    assert settings.output.dir == "/data/lstm-runs"
    assert note_about(notes, "training.saving_path") == (
        'training.saving_path = "/data/lstm-runs" is output.dir: each run writes into a folder of its own inside it '
        "(output.run_name, a timestamp by default)."
    )


def test_a_wandb_key_is_ignored_and_never_repeated(tmp_path):
    settings, notes = load(tmp_path, with_training(wandb__api_key="2fru0123456789abcdef"))
    assert settings.output.tensorboard is False and settings.output.wandb == ""  # not switched on behind the user's back
    assert note_about(notes, "training.wandb__api_key") == (
        "training.wandb__api_key is ignored: a key is no setting; W&B reads it from `wandb login` or WANDB_API_KEY, "
        "and --set output.wandb=PROJECT logs the run there."
    )
    assert not [note for note in notes if "2fru" in note]
    _, quiet = load(tmp_path, with_training(wandb__api_key=None))
    assert not [note for note in quiet if "wandb" in note]


def test_freq_output_values_map_or_are_ignored(tmp_path):
    settings, notes = load(tmp_path, with_training(freq_output__train=10, freq_output__val=5))
    assert settings.train.log_every == 10 and settings.train.val_log_every == 1  # the reference validates every epoch
    assert note_about(notes, "training.freq_output__val") == (
        "training.freq_output__val = 5 (a line every 5 validation batches) has no equal: "
        "lstm-vision prints one line per validation pass; ignored."
    )
    assert not [note for note in notes if note.startswith("training.freq_output__train")]


def test_the_cosine_schedule_with_restarts_is_a_cosine_decay_and_says_what_it_drops(tmp_path):
    text = LATEST.replace("T_mult: 1", "T_mult: 2").replace("eta_min: 0", "eta_min: 1e-8")
    settings, notes = load(tmp_path, text)
    assert (settings.optim.schedule, settings.optim.warmup_fraction) == ("cosine", 0.0)
    assert (
        note_about(notes, "optim.T_mult")
        == "optim.T_mult = 2 has no equal (lstm-vision's cosine schedule does not restart); ignored."
    )
    assert (
        note_about(notes, "optim.eta_min")
        == "optim.eta_min = 1e-08 has no equal (lstm-vision's cosine schedule decays to 0); ignored."
    )


def test_names_that_differ_and_nulls_convert(tmp_path):
    text = (
        LATEST.replace("beta_1: 0.9", "beta_1: 0.8")
        .replace("loading_path: null", "loading_path: cp_best.pt")
        .replace("dropout: 0.2", "dropout: 0.3")
        .replace("max_norm: null", "max_norm: 1.5")
        .replace("master_port: null", "master_port: '29501'")
        .replace("seed_number: 0", "seed_number: null")
    )
    settings, notes = load(tmp_path, text)
    assert settings.optim.betas == [0.8, 0.999] and settings.train.load_checkpoint == "cp_best.pt"
    assert (settings.model.dropout, settings.train.max_norm, settings.system.master_port) == (0.3, 1.5, 29501)
    assert settings.train.seed == 0
    assert note_about(notes, "training.seed_number") == (
        "training.seed_number = null leaves the reference unseeded; lstm-vision always seeds (train.seed = 0)."
    )


def test_the_batch_per_gpu_under_ddp_is_called_so(tmp_path):
    _, notes = load(tmp_path, with_training(use_ddp=True))
    assert note_about(notes, "training.batch_size") == (
        "training.batch_size = 8192 is each GPU's batch in the reference, but train.batch_size is the batch of all "
        "processes together: multiply it by the number of GPUs."
    )


def test_unknown_keys_are_named_with_the_closest(tmp_path):
    text = LATEST.replace("num_epochs:", "num_epoch:").replace("  eps:", "  epsilon:")
    with pytest.raises(SettingsError) as err:
        load(tmp_path, text)
    assert str(err.value) == (
        f"{tmp_path / 'conf.yaml'}: optim.epsilon (did you mean optim.eps?) and training.num_epoch (did you mean training.num_epochs?) are settings "
        "of neither the reference's conf.yaml nor lstm-vision (the reference's keys: README, Coming from the reference; "
        "ours: lstm-vision-tui --help)."
    )


def test_our_own_names_are_read_beside_the_references(tmp_path):
    settings, _ = load(tmp_path, LATEST + "data:\n  normalization: dataset\ntrain:\n  eval_batch_size: 512\n")
    assert (settings.data.normalization, settings.train.eval_batch_size) == ("dataset", 512)


def test_a_file_that_is_not_yaml_says_where(tmp_path):
    with pytest.raises(SettingsError, match=r"is not valid YAML at line 3, column 1"):
        load(tmp_path, "training:\n  num_epochs: 3\n\tbatch_size: 2\n")


def test_a_value_out_of_range_names_the_reference_key_and_ours(tmp_path):
    with pytest.raises(SettingsError) as err:
        load(tmp_path, with_training(num_epochs=-1))
    assert (
        str(err.value) == f"{tmp_path / 'conf.yaml'}: training.num_epochs = -1: train.epochs must be >= 0 and <= 100000, not -1."
    )


@pytest.mark.parametrize(
    "item, expected, note",
    [
        ("training.num_epochs=1", ("train", "epochs", 1), "--set training.num_epochs=1 is --set train.epochs=1 in lstm-vision."),
        (
            "training.use_amp=false",
            ("train", "amp", "off"),
            "--set training.use_amp=false is --set train.amp=off in lstm-vision.",
        ),
        (
            "training.max_norm=null",
            ("train", "max_norm", 0.0),
            "--set training.max_norm=null is --set train.max_norm=0 in lstm-vision.",
        ),
        (
            "optim.beta_2=0.99",
            ("optim", "betas", [0.9, 0.99]),
            "--set optim.beta_2=0.99 is --set optim.betas=[0.9, 0.99] in lstm-vision.",
        ),
        (
            "model.loading_path=cp.pt",
            ("train", "load_checkpoint", "cp.pt"),
            "--set model.loading_path=cp.pt is --set train.load_checkpoint=cp.pt in lstm-vision.",
        ),
        ('training.master_port="29501"', ("system", "master_port", 29501), None),
        ("+training.seed_number=3", ("train", "seed", 3), "--set training.seed_number=3 is --set train.seed=3 in lstm-vision."),
    ],
)
def test_reference_names_after_set_convert_and_name_ours(item, expected, note):
    notes: list[str] = []
    settings = apply_overrides(Settings(), [item], notes)
    section, key, value = expected
    assert getattr(getattr(settings, section), key) == value
    if note:
        assert notes == [note]


def test_a_count_of_checkpoints_after_set_uses_the_epochs_so_far():
    notes: list[str] = []
    settings = apply_overrides(Settings(), ["training.num_epochs=30", "training.num_additional_cps=3"], notes)
    assert settings.train.checkpoint_every == 10 and notes[-1].startswith("training.num_additional_cps = 3 counts")


@pytest.mark.parametrize(
    "item, message",
    [
        (
            "training.num_epoch=3",
            "--set: training.num_epoch (did you mean training.num_epochs?) is a setting of neither the reference's conf.yaml nor lstm-vision",
        ),
        (
            "hydra.mode=MULTIRUN",
            "--set hydra.mode: a setting of Hydra itself, which lstm-vision does not use; it has no equal here.",
        ),
        ("training.use_amp=maybe", 'training.use_amp must be true or false, not "maybe".'),
        ("training.num_epochs=-1", "--set training.num_epochs=-1: train.epochs must be >= 0 and <= 100000, not -1."),
    ],
)
def test_reference_names_after_set_that_cannot_apply_are_refused(item, message):
    with pytest.raises(SettingsError) as err:
        apply_overrides(Settings(), [item])
    assert str(err.value).startswith(message), str(err.value)


def test_our_names_after_set_are_not_translated():
    notes: list[str] = []
    settings = apply_overrides(Settings(), ["model.dropout=0.3", "optim.eps=1e-7"], notes)
    assert (settings.model.dropout, settings.optim.eps, notes) == (0.3, 1e-7, [])


def test_the_cli_reads_reference_names_after_set_and_prints_the_note(tmp_path):
    result = cli("--no-ui", "--set", "training.num_epochs=2", "--print-settings", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["train"]["epochs"] == 2
    assert result.stderr == "note: --set training.num_epochs=2 is --set train.epochs=2 in lstm-vision.\n"


def test_the_readme_table_is_the_table_of_keys():
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme_table() in readme, "README's 'Coming from the reference' table: paste readme_table()'s output"


def test_every_bracketed_reference_name_in_the_readme_settings_table_is_a_conf_yaml_key():
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("Decisions worth knowing", 1)[0]
    bracketed = [name for group in re.findall(r"\[([a-z_0-9., ]+)\]", table) for name in group.split(", ")]
    assert len(bracketed) > 20, "the Settings table names the reference's keys in brackets"
    assert [name for name in bracketed if name not in KEYS] == []


def test_every_reference_key_converts_its_own_default(tmp_path):
    """Each key of the table applied alone to the defaults, with its default in the reference's latest conf.yaml."""
    refused = {}
    for name, key in KEYS.items():
        default = key.reference_default.split(" (")[0]
        try:
            apply_overrides(Settings(), [f"{name}={default}"])
        except SettingsError as err:
            refused[name] = str(err)
    assert refused == {}


def test_a_yaml_file_named_toml_says_how_it_is_read(tmp_path):
    path = write(tmp_path, LATEST, "conf.toml")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(err.value).endswith("(a reference conf.yaml is read as one when its name ends in .yaml or .yml).")


def test_a_hydra_override_without_set_says_where_it_goes(tmp_path):
    result = cli("--no-ui", "training.num_epochs=1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(
        "error: unrecognized arguments: training.num_epochs=1 (a setting goes after --set: --set training.num_epochs=1)"
    )


def test_a_null_where_the_reference_needs_a_value_is_refused_in_yaml_words(tmp_path):
    with pytest.raises(SettingsError) as err:
        load(tmp_path, LATEST.replace("num_layers: 3", "num_layers: null"))
    assert (
        str(err.value) == f"{tmp_path / 'conf.yaml'}: model.num_layers = null: model.num_layers must be a whole number, not null."
    )
