"""What loads on a thread once the first screen is up, so that F5 and t find it loaded (LstmVisionApp._start_warm_up)."""

from __future__ import annotations

from lstm_vision.settings import Settings


def warm_up(settings: Settings, engine: bool = True) -> None:
    """``engine=False``: a served app (--serve), whose runs train in processes of their own: the engine and the
    data set would load in every browser tab's process for nothing."""
    try:
        import app.screens.try_model  # noqa: F401 - torch and the model's loader first: t opens at once

        from lstm_vision.dispatch import warm_up as load_engine

        if engine:
            load_engine(settings)  # then the engine, torchvision and the data, for F5
    except Exception:  # noqa: BLE001 - the run imports and loads again, and reports any error properly
        pass
