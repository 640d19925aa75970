"""Settings: one schema (a dataclass per section) drives settings.toml, --set, --help, the form and the file comments; presets."""
