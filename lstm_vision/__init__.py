"""lstm-vision: train LSTM image classifiers, headless or from a terminal app.

The core (this package) never imports the UI; ``run(settings, emit, control)`` is its one entry point.
"""

__version__ = "0.1.0"
