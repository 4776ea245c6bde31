"""The bounded LRU map shared by the extract, lookup and query caches."""

from __future__ import annotations

import functools
import threading

from broker.cache import Lru


def test_the_least_recently_used_goes_first() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_get_or_build_builds_once_per_key_and_stays_bounded() -> None:
    cache: Lru[int, list[int]] = Lru(3)
    built: list[int] = []

    def build(key: int) -> list[int]:
        built.append(key)
        return [key]

    first = cache.get_or_build(1, lambda: build(1))
    assert cache.get_or_build(1, lambda: build(1)) is first and built == [1]
    for key in range(2, 6):
        cache.get_or_build(key, functools.partial(build, key))
    assert cache.get(1) is None and cache.get(5) == [5]


def test_racing_builds_keep_the_first_value() -> None:
    cache: Lru[str, object] = Lru(4)
    start = threading.Barrier(8)
    results: list[object] = []

    def race() -> None:
        start.wait()
        results.append(cache.get_or_build("k", object))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 1 and results[0] is cache.get("k")
