import sys

from benchmarks.batch import main

sys.exit(main())
