"""History's computed columns: the settings that differ between the runs listed (runs/compare.py)."""

from __future__ import annotations

from lstm_vision.runs.compare import differing_settings
from lstm_vision.settings import Settings, save_settings


def run_folder(root, name: str, **values) -> str:
    """A run folder as a run leaves it, as far as its settings go: settings.toml (no journal: no resume changed it)."""
    settings = Settings()
    settings.output.run_name = name
    for dotted, value in values.items():
        section, key = dotted.split("__")
        setattr(getattr(settings, section), key, value)
    folder = root / name
    folder.mkdir()
    save_settings(settings, folder / "settings.toml")
    return str(folder)


def test_only_the_settings_that_differ_are_listed_with_each_runs_value(tmp_path):
    a = run_folder(tmp_path, "a", optim__learning_rate=1e-3, output__tags=["x"], output__notes="one")
    b = run_folder(tmp_path, "b", optim__learning_rate=1e-2, optim__betas=[0.8, 0.99], output__tags=["y"])
    c = run_folder(tmp_path, "c", optim__learning_rate=1e-3, model__hidden_size=64)
    assert differing_settings([a, b, c]) == {
        "model.hidden_size": [256, 256, 64],
        "optim.learning_rate": [1e-3, 1e-2, 1e-3],
        "optim.betas": [[0.9, 0.999], [0.8, 0.99], [0.9, 0.999]],
    }  # in the schema's order; the name, tags and notes have columns of their own


def test_a_folder_without_readable_settings_has_none_and_changes_nothing(tmp_path):
    a = run_folder(tmp_path, "a", train__epochs=3)
    b = run_folder(tmp_path, "b", train__epochs=4)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "settings.toml").write_text("[train\nepochs = ")
    assert differing_settings([a, str(broken), b]) == {"train.epochs": [3, None, 4]}
    assert differing_settings([a, str(broken)]) == {} and differing_settings([a, a]) == {}


def test_a_resume_that_changed_a_setting_counts_with_the_value_it_went_on_with(tmp_path):
    import json

    a = run_folder(tmp_path, "a", train__epochs=4)
    b = run_folder(tmp_path, "b", train__epochs=2)
    change = {"event": "settings_changed", "epoch": 2, "step": 0, "changes": {"train.epochs": [2, 4]}}
    (tmp_path / "b" / "metrics.jsonl").write_text(json.dumps(change) + "\n")  # as a resume with epochs=4 wrote it
    assert differing_settings([a, b]) == {}
