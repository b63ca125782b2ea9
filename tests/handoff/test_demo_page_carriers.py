"""Walkthrough: the demo shop page said «Con SEUR, Correos o MRW» while the
demo orders (data/store/demo_store.json) also ship with DHL and GLS. The page
names exactly the carriers of the demo orders, derived from that file."""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.handoff.test_chat import http_get

DEMO_STORE = Path(__file__).resolve().parents[2] / "data" / "store" / "demo_store.json"


def carriers_of_the_demo_orders() -> set:
    orders = json.loads(DEMO_STORE.read_text(encoding="utf-8"))["orders"]
    return {o["carrier"] for o in orders if o.get("carrier")}


@pytest.mark.asyncio
async def test_the_demo_page_names_the_carriers_of_the_demo_orders(start_bridge) -> None:
    server = await start_bridge()
    page = (await asyncio.to_thread(http_get, server.port, "/"))[1].decode()
    carriers = carriers_of_the_demo_orders()
    known = carriers | set(server.bridge.policy.tracking_urls)  # every carrier the store knows of
    sentence = re.search(r"Con ([^<]*) y número de seguimiento", page)
    assert sentence is not None, page
    named = {c for c in known if re.search(rf"\b{re.escape(c)}\b", sentence.group(1))}
    assert named == carriers, sentence.group(1)
    assert re.fullmatch(r"(\w+, )*\w+ o \w+", sentence.group(1)), sentence.group(1)  # "A, B o C"
