"""``fink-transfer submit``: validate a job (conditions, nights, broker) and start it.

Validation happens here, before the job process exists: a bad condition, an unknown night range
or a broker that is down is one line on stderr, exit code 2, and nothing is published.
"""

from __future__ import annotations

from engine import surveys


# The flags of the spec's optional sections: {flag: (section, key in the section, metavar, help)}.
SECTION_FLAGS = {
    "--xmatch": ("xmatch", "path", "FILE", "catalogue: CSV (# comments), Parquet, VOTable (.xml) or FITS"),
    "--xmatch-ra": ("xmatch", "ra", "COL", "RA column (degrees or hh:mm:ss)"),
    "--xmatch-dec": ("xmatch", "dec", "COL", "Dec column (degrees or +dd:mm:ss)"),
    "--xmatch-id": ("xmatch", "id", "COL", "id column, copied to xmatch_id"),
    "--xmatch-radius": ("xmatch", "radius_arcsec", "ARCSEC", "match radius in arcsec (0 < r <= 3600)"),
    "--max-per-class": ("dataset", "max_per_class", "N", "at most N alerts per class"),
    "--class-column": ("dataset", "class_column", "COL", "class column for --max-per-class (default: the survey's)"),
    "--sample-fraction": ("dataset", "sample_fraction", "F", "keep a seeded random fraction (0 < F <= 1) of alerts"),
    "--seed": ("dataset", "seed", "S", "seed of the sample and the split (default 0)"),
    "--split": ("dataset", "split", "TR,VA,TE", "add a train/validation/test 'split' column, e.g. 0.8,0.1,0.1"),
}
SECTION_TITLES = {"xmatch": "cross-match with your catalogue (engine.xmatch)",
                  "dataset": "data set for machine learning (engine.dataset)"}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def register(sub) -> None:
    p = sub.add_parser("submit", help="validate and start a transfer job (prints its topic)")
    p.add_argument("--spec", help="job spec YAML/JSON file (flags below override its keys)")
    p.add_argument("--survey", choices=surveys.NAMES)
    p.add_argument("--start", help="first night, YYYY-MM-DD")
    p.add_argument("--stop", help="last night, YYYY-MM-DD (inclusive; default: start)")
    p.add_argument("--class", dest="classes", action="append", metavar="LABEL",
                   help="class label (repeatable): Fink class, '(SIMBAD) x', '(TNS) x', classId, allclasses")
    p.add_argument("--condition", dest="conditions", action="append", metavar="SQL",
                   help="SQL condition (repeatable, AND-ed), e.g. 'candidate.magpsf > 19.5'")
    p.add_argument("--content", help="content preset of the survey (default: the survey's first), "
                   "e.g. lightcurve, cutouts, full")
    p.add_argument("--field", dest="fields", action="append", metavar="NAME",
                   help="publish only these fields or sections (repeatable), e.g. diaSource.psfFlux, xm")
    p.add_argument("--filter", dest="filters", action="append", metavar="NAME",
                   help="Fink filter or block (repeatable, AND-ed), 'NOT name' negates, e.g. in_tns, 'NOT b_is_new'")
    p.add_argument("--limit", type=int, help="publish at most N alerts")
    p.add_argument("--topic", help="topic name (default: generated ftransfer_<survey>_<date>_<n>)")
    for section, title in SECTION_TITLES.items():
        group = p.add_argument_group(title)
        for flag, (of, _, metavar, text) in SECTION_FLAGS.items():
            if of == section:
                group.add_argument(flag, metavar=metavar, help=text)
    p.add_argument("--test", action="store_true", help="Test job: a few alerts only (limit 10 unless --limit)")
    p.add_argument("--engine", choices=("spark", "local", "auto"), default="spark",
                   help="spark (default), local (DuckDB, single machine) or auto (local below jobs.small_job_threshold)")
    p.add_argument("--master", help="Spark master, e.g. spark://host:7077 (default: spark.master setting)")
    p.add_argument("--wait", action="store_true", help="wait for the job to end; exit 0 only if it is done")
    p.add_argument("--user", help="service mode: submit as this user (quotas, queue, ACLs; --spec read from "
                                  "inside the user's folder)")
    p.set_defaults(func=run)


def build_spec(args, settings=None, user=None) -> dict:
    spec: dict = {}
    if args.spec:
        import yaml

        from engine.access import confine
        from engine.errors import UserError
        path = confine(settings, user, args.spec, must_exist=user is not None)
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise UserError(f"cannot read spec file {args.spec}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise UserError(f"spec file {args.spec} is not valid YAML/JSON") from exc
        if not isinstance(spec, dict):
            raise UserError(f"spec file {args.spec} must hold a mapping")
    for key in ("survey", "start", "stop", "content", "fields", "filters", "limit", "topic", "classes", "conditions"):
        value = getattr(args, key)
        if value is not None:
            spec[key] = value
    for section in SECTION_TITLES:
        given = {key: getattr(args, _dest(flag)) for flag, (of, key, _, _) in SECTION_FLAGS.items() if of == section}
        given = {k: v for k, v in given.items() if v is not None}
        if given:
            spec[section] = {**(spec.get(section) or {}), **given}
    spec.setdefault("survey", surveys.DEFAULT)
    spec.setdefault("classes", ["allclasses"])
    spec.setdefault("conditions", [])
    if spec.get("start") and not spec.get("stop"):
        spec["stop"] = spec["start"]
    return spec


def run(args) -> int:
    from engine.config import load_settings
    from engine.job.launcher import submit_job
    from kafka_io.topics import client_command

    settings = load_settings()
    user = service_user(settings, getattr(args, "user", None))
    plan, rec = submit_job(settings, build_spec(args, settings, user), test=args.test, engine=args.engine,
                           master=args.master, user=user)
    print(f"job: {rec.job_id}")
    print(f"topic: {rec.topic}")
    print(f"nights: {len(plan.nights)} ({plan.nights[0]}..{plan.nights[-1]}), content: {plan.content}"
          + (f", limit: {plan.limit}" if plan.limit is not None else ""))
    print(f"download with: {client_command(rec.topic, plan.survey)}")
    if not args.wait:
        print(f"follow with: fink-transfer jobs log {rec.job_id} --follow")
        return 0
    rec = wait_with_progress(settings, rec.job_id, plan.limit)
    print(f"state: {rec.state}, published: {rec.published}" + (f", error: {rec.error}" if rec.error else ""))
    return 0 if rec.state == "done" else 1


def service_user(settings, name: str | None):
    """The engine.users.User named by --user (service mode only), or None."""
    from engine.errors import UserError
    from engine.users import get_user

    if not name:
        return None
    if not settings.service.enabled:
        raise UserError("--user needs service mode (service.enabled: true)")
    user = get_user(settings, name)
    if user is None:
        raise UserError(f"unknown user {name}")
    return user


def wait_with_progress(settings, job_id: str, total: int | None):
    """Wait for the job to end with a bar of the alerts published so far (on stderr)."""
    from engine.job.launcher import wait_job
    from engine.job.store import TERMINAL, read_progress
    from engine.progress import progress_bar

    with progress_bar(total, "publishing") as bar:
        while True:
            rec = wait_job(settings, job_id, timeout=0.5)
            bar.update(max(0, read_progress(settings, job_id) - bar.n))
            if rec.state in TERMINAL:
                return rec
