"""The user's mistakes, as exceptions: each message is one sentence meant for them (exit code 2).

They live here, below every package, so that no package imports a sibling for an exception."""


class SettingsError(ValueError):
    """A user mistake in the settings: the message is one sentence meant for them."""


class DataError(SettingsError):
    """Data that cannot be found or read: a user-fixable problem, reported in one sentence."""


class CheckpointError(SettingsError):
    """A checkpoint that cannot be used: one sentence naming the file and why."""
