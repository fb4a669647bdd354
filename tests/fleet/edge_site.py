"""A site's edge node in its own process (so a test can SIGKILL it): two tags, a sample of each every 0.1 s."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from plantctl.config.uplink import UplinkConfig
from plantctl.samples import Sample, utcnow
from plantctl.uplink.edge import SparkplugEdge
from tests.fleet.test_edge import TAGS


async def main(url: str, node: str, state_dir: str) -> None:
    cfg = UplinkConfig(group_id="recyclers", edge_node_id=node, brokers=[url], keepalive_s=2,
                       publish_period_s=0.05)
    edge = SparkplugEdge(cfg, TAGS, Path(state_dir))
    await edge.start()
    i = 0
    while True:
        now = utcnow()
        edge.submit([Sample("AIT-101", now, 7.0 + (i % 10) / 10), Sample("FIT-101", now, float(i))])
        i += 1
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
