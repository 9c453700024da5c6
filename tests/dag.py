"""Test helpers for reading Snakemake's output."""


def job_stats(text: str) -> dict[str, int]:
    """{rule: count} of the 'Job stats' table Snakemake prints before running ({} when nothing is to be done);
    the 'all' target and the total are left out."""
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    rows = (r.split() for r in table)
    return {r[0]: int(r[1]) for r in rows if r and r[0] not in ("total", "all")}
