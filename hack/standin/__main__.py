"""``python -m hack.standin --port P --kubeconfig FILE [--crds DIR]``: serve the stand-in until SIGTERM/SIGINT.

Once ready, prints one JSON line ``{"url": ..., "kubeconfig": ...}`` on stdout (wrappers wait for it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time

from hack.standin.server import serve, write_kubeconfig


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(port=args.port, crds_dir=args.crds, host=args.host) as (url, standin):
        path = write_kubeconfig(args.kubeconfig, url)
        print(json.dumps({'url': url, 'kubeconfig': str(path.resolve())}), flush=True)
        logging.info('stand-in ready at %s in %.3f s (resourceVersion %d)',
                     url, time.monotonic() - started, standin.resource_version)
        await stop.wait()
        logging.info('stopping')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m hack.standin', description=__doc__)
    parser.add_argument('--port', type=int, default=0, help='TCP port, 0 = any free port (default)')
    parser.add_argument('--host', default='127.0.0.1', help='listen address (default 127.0.0.1)')
    parser.add_argument('--kubeconfig', required=True, help='where to write a kubeconfig for the stand-in')
    parser.add_argument('--crds', default=None, help='directory of CRD YAML files to create at start')
    parser.add_argument('--log-level', default='WARNING', help='Python logging level (stderr)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format='%(asctime)s %(levelname)s standin: %(message)s')
    asyncio.run(run(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
