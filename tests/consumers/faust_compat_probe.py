"""Run by test_faust_compat in its own interpreter (Faust's test context leaves loops to the GC).

Prints the (partition, key) pairs the table sent to its changelog, as JSON.
"""

from __future__ import annotations

import asyncio
import json

import faust

from consumers.scoring.faust_compat import write_with_partition_of


def main() -> None:
    app = faust.App("compat-test", store="memory://", web_enabled=False)
    table = app.Table("compat", partitions=4, key_type=bytes, value_type=bytes, default=None)
    outcome: dict[str, list] = {"sent": [], "without_wrapper": []}

    @app.agent(value_type=bytes)
    async def writer(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take_events(10, within=0.01):
            for event in events:
                try:
                    table[b"direct"] = b"x"  # what happens without the wrapper
                except TypeError as exc:
                    outcome["without_wrapper"].append(str(exc))
                write_with_partition_of(stream, event, table, event.message.key, event.value)

    original = table.send_changelog

    def spy(partition, key, value, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome["sent"].append([partition, key.decode()])
        return original(partition, key, value, *args, **kwargs)

    table.send_changelog = spy  # type: ignore[method-assign]

    async def run() -> None:
        async with writer.test_context() as agent:
            await agent.put(b"v1", key=b"k1", partition=2)
            await agent.put(b"v2", key=b"k2", partition=3)
            for _ in range(200):
                if len(outcome["sent"]) == 2:
                    break
                await asyncio.sleep(0.02)

    asyncio.run(run())
    outcome["stored"] = [table.data.get(b"k1", b"").decode()]
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
