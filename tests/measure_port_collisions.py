"""Why free ports lie outside the ephemeral range (issue 25): the measurement behind the README's figures.

Prints where ``bind(("127.0.0.1", 0))`` ports land (the old free-port helpers) and where
``free_port`` ports land, then, per port, how many refused connection attempts a tight retry
loop makes before the kernel gives the client that very port as its source port: a TCP
self-connection, after which a server can no longer bind the port. Needs no broker.

    .venv/bin/python -m tests.measure_port_collisions
"""

from __future__ import annotations

import socket
import time

from stream.infra.local_services import ephemeral_port_range, free_port


def os_chosen_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def retry_storm(port: int, attempts: int) -> tuple[int | None, float]:
    """Connect to 127.0.0.1:port, where nothing listens, until a connection succeeds (it can only be to itself)."""
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        with socket.socket() as client:
            try:
                client.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                continue
            return attempt, time.perf_counter() - started
    return None, time.perf_counter() - started


def main() -> None:
    low, high = ephemeral_port_range()
    print(f"ephemeral range (ip_local_port_range): {low}-{high}")
    chosen = [os_chosen_port() for _ in range(2000)]
    inside = sum(low <= port <= high for port in chosen)
    odd = sum(port % 2 for port in chosen)
    print(f"bind(0): {inside}/2000 inside the range, {odd} odd (Linux keeps even ports for connect() first)")
    ours = [free_port() for _ in range(200)] + [free_port(pair=True) for _ in range(50)]
    print(f"free_port: {sum(low <= port <= high for port in ours)}/250 inside, from {min(ours)} to {max(ours)}")
    attempts = 2 * (high - low + 1)
    for port in (39092, 40000, os_chosen_port() + 1, 29092, free_port()):
        where = "inside" if low <= port <= high else "outside"
        hit, seconds = retry_storm(port, attempts)
        verdict = f"self-connected after {hit} attempts" if hit else f"never in {attempts} attempts"
        print(f"port {port} ({where}): {verdict}, {seconds:.1f} s")


if __name__ == "__main__":
    main()
