"""python -m benchmarks.pacing [--quick] — prints the DialBench-v1 table (see README.md)."""
import sys

from benchmarks.pacing.bench import main

sys.exit(main())
