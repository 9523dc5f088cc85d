"""``async def`` jobs on a collector of their own, for the asyncio tests' worker processes."""

from __future__ import annotations

import asyncio
import os
import threading

from queuekit import JobCollector, current_job

collector = JobCollector()


async def double(x: int) -> int:
    """Await once, then return twice ``x``."""
    await asyncio.sleep(0.01)
    return x * 2


async def note(path: str, text: str) -> str:
    """Append ``text``, the job's id and proof of a running loop to ``path`` (runs cross-process)."""
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    line = f"{text} {current_job().job_id} loop={type(loop).__name__} pid={os.getpid()}\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
    return text


async def boom(what: str) -> None:
    """Fail after an await, so the error comes out of the event loop."""
    await asyncio.sleep(0)
    raise ValueError(f"async boom: {what}")


async def nap(seconds: float) -> str:
    """Sleep on the loop for ``seconds`` (for timeouts)."""
    await asyncio.sleep(seconds)
    return "woke"


async def gathered(n: int) -> list[int]:
    """Run ``n`` tasks concurrently on the job's loop and return their results in order."""

    async def square(i: int) -> int:
        await asyncio.sleep(0.01)
        return i * i

    return list(await asyncio.gather(*(square(i) for i in range(n))))


async def thread_name() -> str:
    """The name of the thread the job's event loop runs on."""
    return threading.current_thread().name


for _name, _func in {
    "asyncjobs.double": double,
    "asyncjobs.note": note,
    "asyncjobs.boom": boom,
    "asyncjobs.nap": nap,
    "asyncjobs.gathered": gathered,
    "asyncjobs.thread_name": thread_name,
}.items():
    collector.register_job(_name, _func)
