"""Sweeps: studies over settings with Optuna (docs/ARCHITECTURE.md, "The sweep file"). folder.py is the folder contract and
needs neither torch nor Optuna; the rest imports Optuna when a sweep runs."""
