"""Settings: one schema (a dataclass per section) drives settings.toml, --set, --help, the form and the file
comments; presets.

- schema.py: the sections and their fields, each with its help text and constraints;
- validate.py: one value, a file's mapping, and the combinations the data or the processes must allow;
- toml.py: reading and writing settings files (comments kept), the shipped presets;
- comments.py: which comments of one file still hold in another ("Save as");
- reference_keys.py, reference_yaml.py: the reference's conf.yaml and its key names (--config conf.yaml,
  --set training.num_epochs=1).

Callers import from here; the exceptions are in lstm_vision.errors.
"""

from lstm_vision.settings.schema import (
    AMP_MODES,
    COMPILE_MODES,
    DATASETS,
    HEADER,
    SECTIONS,
    DataSettings,
    ModelSettings,
    OptimSettings,
    OutputSettings,
    Settings,
    SystemSettings,
    TrainSettings,
    help_lines,
    known_image_shape,
    section_fields,
)
from lstm_vision.settings.reference_yaml import is_reference_yaml, load_reference_yaml
from lstm_vision.settings.toml import load_settings, preset_names, preset_path, read_toml, render_toml, save_settings
from lstm_vision.settings.overrides import apply_overrides
from lstm_vision.settings.validate import (
    apply_dict,
    check_batch_split,
    check_dataset_name,
    check_sequence_shape,
    check_value,
    parse_text,
    sequence_shape,
)

__all__ = [
    "AMP_MODES",
    "COMPILE_MODES",
    "DATASETS",
    "HEADER",
    "SECTIONS",
    "DataSettings",
    "ModelSettings",
    "OptimSettings",
    "OutputSettings",
    "Settings",
    "SystemSettings",
    "TrainSettings",
    "apply_dict",
    "apply_overrides",
    "check_batch_split",
    "check_dataset_name",
    "check_sequence_shape",
    "check_value",
    "help_lines",
    "is_reference_yaml",
    "known_image_shape",
    "load_reference_yaml",
    "load_settings",
    "parse_text",
    "preset_names",
    "preset_path",
    "read_toml",
    "render_toml",
    "save_settings",
    "section_fields",
    "sequence_shape",
]
