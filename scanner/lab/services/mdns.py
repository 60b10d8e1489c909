"""mDNS/DNS-SD advertisement with python-zeroconf, bound to the host's own interface address.

Facts: protocols.md section 5 (UniversalScanner Axis.selftest: `_axis-video._tcp`, instance
`AXIS <model> - <MAC12>`, TXT `macaddress=<MAC12>`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from scanner.lab.netns import entered
from scanner.lab.services.context import HostContext


def service_infos(ctx: HostContext) -> list[AsyncServiceInfo]:
    """The DNS-SD services the persona registers, rendered for this host."""
    infos = []
    server = ctx.render(str(ctx.section("mdns").get("server", "${hostname}.local.")))
    for entry in ctx.section("mdns").get("services", []):
        item: dict[str, Any] = ctx.render_any(entry)
        service_type = str(item["type"])
        infos.append(AsyncServiceInfo(
            service_type, f"{item['name']}.{service_type}", port=int(item.get("port", 80)),
            properties={str(k): str(v) for k, v in item.get("txt", {}).items()},
            server=server, parsed_addresses=[ctx.host.ip]))
    return infos


class MdnsAdvertiser:
    """One AsyncZeroconf per advertising host, its sockets made inside the host's namespace."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.zc: AsyncZeroconf | None = None
        self.infos = service_infos(ctx)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the sockets in the namespace and register every service (its names probed and owned)
        before returning, so a host counted as up answers mDNS queries; announcements go on in the
        background."""
        with entered(self.ctx.host.netns):
            self.zc = AsyncZeroconf(interfaces=[self.ctx.host.ip], ip_version=IPVersion.V4Only)
        announcing = await asyncio.gather(*(self.zc.async_register_service(info, allow_name_change=False)
                                            for info in self.infos))
        self.task = asyncio.create_task(self._announce(list(announcing)))

    @staticmethod
    async def _announce(announcing: list[Awaitable[object]]) -> None:
        await asyncio.gather(*announcing)

    async def close(self) -> None:
        """Unregister (sends goodbyes) and close the sockets."""
        if self.task is not None and not self.task.done():
            # let the announcements finish (about a second) so no zeroconf task outlives its instance
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self.task), 3)
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.zc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.zc.async_unregister_all_services(), 3)
            await self.zc.async_close()
