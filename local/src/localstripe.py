"""Serves localstripe on one loopback address, with its state in memory only.

Run by the local stack as `python -c <this file> HOST PORT`. localstripe's own launcher
listens on every interface and pickles its whole store to the fixed path
/tmp/localstripe.pickle after every write: two instances would share (and corrupt) that
file, and each write costs time proportional to everything stored so far.
"""
import logging
import sys

from aiohttp import web

import localstripe.resources as resources

resources.Store.dump_to_disk = lambda self: None

from localstripe.server import app  # noqa: E402  (after the patch above)

host, port = sys.argv[1], int(sys.argv[2])
logging.basicConfig(level=logging.WARNING)
web.run_app(app, host=host, port=port, print=None, access_log=None)
