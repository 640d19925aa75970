"""The machine: devices, precision and threads; memory and utilisation; provenance."""
