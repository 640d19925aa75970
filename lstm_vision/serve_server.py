"""textual-serve's Server as --serve needs it: the page titled lstm-vision, its websocket and static addresses
taken from the address the browser used (through an SSH tunnel on another local port, or a host's name, the
server's own host:port would not reach it), one line on start instead of the banner, and Ctrl-C that ends the
tabs' apps at once (aiohttp would wait a minute for their websockets to close by themselves)."""

from __future__ import annotations

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server


class AppServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.open_tabs: set[web.WebSocketResponse] = set()

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        self.open_tabs.add(websocket)
        try:
            await super()._process_messages(websocket, app_service)
        finally:
            self.open_tabs.discard(websocket)

    async def on_shutdown(self, app: web.Application) -> None:
        # a closed websocket ends its message loop, and textual-serve then tells that tab's app to quit
        for websocket in list(self.open_tabs):
            await websocket.close(code=1001, message=b"the server is stopping")

    async def handle_index(self, request: web.Request) -> web.Response:
        page = await super().handle_index(request)  # the template, rendered with the server's own address
        text = page.text.replace(f"//{self.host}:{self.port}/", f"//{request.host}/")
        text = text.replace("<head>", f"<head>\n    <title>{self.title}</title>", 1)
        return web.Response(text=text, content_type="text/html")

    async def on_startup(self, app: web.Application) -> None:
        self.console.print(
            f"Serving {self.title} on {self.public_url}: each browser tab runs its own app, and its runs train in the "
            "background (they outlive the tab and this server). Ctrl+C stops serving.",
            highlight=False,
            soft_wrap=True,
        )
