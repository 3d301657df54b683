"""Every benchmark, one after the other: quick by default (what `make bench` runs), full with --full.

    .venv/bin/python -m bench            # quick: a few minutes
    .venv/bin/python -m bench --full     # the sizes the figures in bench/README.md were taken at

A benchmark that fails does not stop the others; the exit status says whether any failed.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback

# module: (quick arguments, full arguments)
BENCHMARKS = {
    "bench.contacts_import": ([], ["--rows", "1000000"]),
    "bench.inbound_throughput": (["--quick"], []),
    "bench.inbox_query": (["--quick"], []),
    "bench.inbox_pages": (["--quick"], []),
    "bench.campaign": (["--quick"], []),
    "bench.message_usage": (["--quick"], []),
    "bench.export": (["--quick"], []),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="full sizes instead of quick ones")
    parser.add_argument("only", nargs="*", help="run only these (e.g. inbox_query)")
    args = parser.parse_args(argv)

    outcomes = []
    for module_name, (quick, full) in BENCHMARKS.items():
        short = module_name.split(".", 1)[1]
        if args.only and short not in args.only and module_name not in args.only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written (yet)
            raise
        bench_args = full if args.full else quick
        print(f"\n=== {module_name} {' '.join(bench_args)}".rstrip(), flush=True)
        started = time.perf_counter()
        try:
            status = module.main(bench_args)
            ok = status in (None, 0)
        except SystemExit as exc:
            ok = exc.code in (None, 0)
            if not ok and not isinstance(exc.code, int):
                print(exc.code)
        except KeyboardInterrupt:
            raise
        except Exception:
            traceback.print_exc()
            ok = False
        outcomes.append((module_name, ok, time.perf_counter() - started))

    print("\n=== summary")
    for name, ok, seconds in outcomes:
        print(f"{'ok    ' if ok else 'FAILED'} {name} ({seconds:.0f} s)")
    return 0 if outcomes and all(ok for _, ok, _ in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
