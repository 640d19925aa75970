"""Settings messages say what the user wrote: a quoted number is called quoted, a key outside any section
is called so, and numbers are printed as written (1048576, not 1.04858e+06)."""

import pytest

from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings, apply_overrides, check_value, load_settings, parse_text


def load_text(tmp_path, text: str) -> Settings:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_settings(path)


def refusal(call, *args) -> str:
    with pytest.raises(SettingsError) as err:
        call(*args)
    return str(err.value)


@pytest.mark.parametrize(
    "line, expected",
    [
        ('epochs = "2"', 'train.epochs must be a whole number, not the text "2": write it without quotes, epochs = 2.'),
        (
            'learning_rate = "2e-3"',
            'optim.learning_rate must be a number, not the text "2e-3": write it without quotes, learning_rate = 2e-3.',
        ),
    ],
)
def test_a_quoted_number_in_a_file_is_called_quoted(tmp_path, line, expected):
    section = "optim" if "learning_rate" in line else "train"
    message = refusal(load_text, tmp_path, f"[{section}]\n{line}\n")
    assert message.endswith(expected), message
    assert message.startswith(str(tmp_path / "s.toml"))


def test_a_quoted_true_in_a_file_is_called_quoted(tmp_path):
    message = refusal(load_text, tmp_path, '[data]\ndownload = "false"\n')
    assert message.endswith(
        'data.download must be true or false, not the text "false": write it without quotes, download = false.'
    )


def test_a_quoted_number_after_set_is_called_quoted():
    message = refusal(apply_overrides, Settings(), ["train.epochs='2'"])
    assert message == 'train.epochs must be a whole number, not the text "2": write it without quotes, train.epochs=2.'


def test_text_that_is_no_number_is_not_called_quoted(tmp_path):
    message = refusal(load_text, tmp_path, '[train]\nepochs = "two"\n')
    assert message.endswith("train.epochs must be a whole number, not 'two'.") and "quotes" not in message


@pytest.mark.parametrize(
    "text, where",
    [
        ("epochs = 3\n[model]\nhidden_size = 64\n", "put it under [train]"),
        ("hidden_size = 64\n", "put it under [model]"),
        ("dropout_rate = 0.2\n", "each setting belongs under its section, e.g. [train]"),
    ],
)
def test_a_key_outside_any_section_is_called_so(tmp_path, text, where):
    key = text.split(" =")[0]
    message = refusal(load_text, tmp_path, text)
    assert f"{key} = " in message and "is outside any section" in message and where in message, message
    assert "unknown section" not in message


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("train", "batch_size", 2_000_000, "train.batch_size must be >= 1 and <= 1048576, not 2000000."),
        ("train", "seed", 2**32, "train.seed must be >= 0 and <= 4294967295, not 4294967296."),
        ("data", "train_split", 1.5, "data.train_split must be > 0 and < 1, not 1.5."),
        ("optim", "learning_rate", 20.0, "optim.learning_rate must be > 0 and <= 10, not 20.0."),
    ],
)
def test_numbers_in_messages_are_printed_as_written(section, key, value, expected):
    assert refusal(check_value, section, key, value) == expected


def test_a_large_number_after_set_is_echoed_as_typed():
    message = refusal(parse_text, "train", "batch_size", "1048577")
    assert message == "train.batch_size must be >= 1 and <= 1048576, not 1048577."
