"""p: the pictures of a run or a sweep folder (curves.png, confusion_matrix.png, mistakes.png; sweep.png,
parallel.png). In a browser (--serve) enter opens the chosen one in a new browser tab: the browser cannot read
the box's disk, so the app delivers the file through textual-serve. In a terminal the dialog names the files."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lstm_vision.text import format_bytes
from app.screens.dialogs import DIALOG_CSS


def pictures_in(folder: Path) -> list[Path]:
    """The folder's pictures, as the run or the sweep drew them (every .png: a new kind needs no change here)."""
    try:
        return sorted(path for path in folder.glob("*.png") if path.is_file())
    except OSError:
        return []


class PicturesScreen(ModalScreen[None]):
    DEFAULT_CSS = DIALOG_CSS.format(name="PicturesScreen") + "PicturesScreen OptionList { height: auto; max-height: 12; }"
    BINDINGS = [Binding("escape", "cancel", "Close")]

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.pictures = pictures_in(folder)

    def compose(self) -> ComposeResult:
        web = self.app.is_web
        with Vertical():
            where = "enter opens one in a new browser tab" if web else "their folder"
            # a Static, which wraps: a Label is one line, cut at the dialog's edge (its end, "escape: close", lost)
            yield Static(f"Pictures of {self.folder.name} ({where}) · escape: close", classes="dialog-title")
            if not web:
                yield Static(str(self.folder), id="pictures-folder")
            if self.pictures:
                options = [Option(f"{p.name}  ({format_bytes(p.stat().st_size)})", id=str(p)) for p in self.pictures]
                yield OptionList(*options, id="pictures")
            else:
                yield Static("No pictures yet: a run draws them when it ends, a sweep as its trials end.", classes="dialog-error")

    def on_mount(self) -> None:
        if self.pictures:
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        path = Path(str(event.option.id))
        if not self.app.is_web:
            self.notify(str(path))
            return
        # "browser": shown in a tab of its own rather than saved; one a key press, as a browser lets a page open a
        # tab only right after the user's key (the dialog stays open for the next one)
        self.app.deliver_binary(path, open_method="browser", mime_type="image/png")
        self.notify(f"{path.name} opens in a new browser tab (where the browser blocks it, allow pop-ups for this page).")

    def action_cancel(self) -> None:
        self.dismiss(None)
