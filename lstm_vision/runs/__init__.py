"""The run folder contract: its files, who runs it (liveness, control requests), following its journal."""
