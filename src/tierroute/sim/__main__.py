"""``python -m tierroute.sim [--host H] [--port N] [--config sim.yaml]``: the simulator on its own."""

from __future__ import annotations

import argparse
import sys

from tierroute.sim.server import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tierroute.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument(
        "--config", default=None, help="a simulator YAML config (see tierroute/sim/example.yaml)"
    )
    args = parser.parse_args(argv)
    try:
        run(args.host, args.port, args.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
