"""`python -m jobs.batch_runner [--config PATH]`: run the batch completion described by the
job's config file (default `$LLME_JOB_CONFIG_PATH`, else `$CONFIG_FILE`)."""
import argparse
import json
import logging
import os
import sys

from jobs.batch_runner.runner import EXIT_FATAL, Fatal, RunnerConfig, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.batch_runner", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("LLME_JOB_CONFIG_PATH") or os.environ.get("CONFIG_FILE"),
                        help="the job's config file (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    if not args.config:
        parser.error("no config file: pass --config or set LLME_JOB_CONFIG_PATH")
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = RunnerConfig.from_job_config(json.load(handle), dict(os.environ))
    except (OSError, ValueError, Fatal) as exc:
        logging.error("cannot read the job config %s: %s", args.config, exc)
        return EXIT_FATAL
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
