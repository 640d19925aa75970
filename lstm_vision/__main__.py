"""`python -m lstm_vision` and `torchrun -m lstm_vision` are the same program as lstm-vision-tui."""

import sys

from lstm_vision.cli import main

sys.exit(main())
