"""Entry script for ``spark-submit --deploy-mode client ... submit_entry.py <job_id>`` (real clusters).

The job record must exist (``fink-transfer submit`` without starting it, or the app); the driver
runs here, on the submitting host, exactly as ``python -m cli jobs run <job_id>`` would.
"""

import sys

from engine.config import load_settings
from engine.job.runner import run_job

if __name__ == "__main__":
    sys.exit(run_job(load_settings(), sys.argv[1]))
