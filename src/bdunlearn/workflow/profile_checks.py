"""Checks of the execution profile, run by the Snakefile before any job starts.

Role in the DAG: none of its own; ``Snakefile`` calls :func:`check_profile` once
every rule is defined, with what the profile and the command line gave
(``set-resources``, ``set-threads``, ``default-resources``). A mistake there
would otherwise cost a queue wait or pass silently:

- ``set-resources`` / ``set-threads`` naming a rule the workflow does not have
  (Snakemake ignores it, so a typo in ``finetune_backdor: {mem_mb: ...}`` leaves
  the real rule at the default size);
- a SLURM partition that does not exist, or one that admits only some accounts
  (``AllowAccounts``) while the profile gives none or another: ``sbatch``
  would accept such a job and leave it pending forever
  ("Job's account not known, so it can't use this partition").

The SLURM checks run only when the profile names a ``slurm_partition`` (the
SLURM profile does; the workstation profile does not) and ``scontrol`` is on
the PATH; they ask ``scontrol show partition``, which needs no accounting
database.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Callable, Iterable, Mapping

SLURM_PROFILE = "workflow/profiles/slurm/config.yaml"


class ProfileError(ValueError):
    """A profile or command-line setting that cannot work; the message says which key and what to do."""


def unknown_rule_overrides(overrides: Mapping[str, Mapping[str, Mapping]], rules: Iterable[str]) -> list[str]:
    """Messages for every rule named by an override option (e.g. set-resources) that the workflow lacks."""
    known = set(rules)
    out = []
    for option, per_rule in overrides.items():
        for rule in per_rule:
            if rule not in known:
                out.append(f"{option} names rule '{rule}', which this workflow does not have")
    if out:
        out.append("rules: " + ", ".join(sorted(known)))
    return out


def parse_scontrol_oneliner(text: str) -> dict:
    """`scontrol show partition -o` output (one record per line) as {PartitionName: {key: value}}."""
    parts = {}
    for line in text.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "PartitionName" in fields:
            parts[fields["PartitionName"]] = fields
    return parts


def scontrol_partitions() -> dict | None:
    """The cluster's partitions (None when this machine has no scontrol or slurmctld does not answer)."""
    exe = shutil.which("scontrol")
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, "show", "partition", "-o"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return parse_scontrol_oneliner(res.stdout)


def slurm_problems(requests: Mapping[str, tuple[str, str]], partitions: Mapping[str, dict]) -> list[str]:
    """Problems of each (partition, account) the jobs will be submitted with, one message per pair.

    ``requests`` maps a rule (or '*' for the default resources) to its (partition, account); an empty
    partition means the cluster's default partition.
    """
    users: dict[tuple[str, str], list[str]] = {}
    for rule, pair in requests.items():
        users.setdefault(pair, []).append(rule)
    out = []
    for (part, account), rules in sorted(users.items()):
        named = sorted(r for r in rules if r != "*")
        where = "; ".join((["default-resources"] if "*" in rules else [])
                          + ([f"set-resources of {', '.join(named)}"] if named else []))
        if not part:
            continue
        if part not in partitions:
            out.append(f"slurm_partition '{part}' ({where}) does not exist on this cluster; partitions: "
                       f"{', '.join(sorted(partitions))}")
            continue
        allowed = partitions[part].get("AllowAccounts", "ALL")
        if allowed.upper() == "ALL":
            continue
        names = [a for a in allowed.split(",") if a]
        if not account:
            out.append(f"partition '{part}' ({where}) admits only the accounts {', '.join(names)} but no "
                       f"slurm_account is set: set BDUNLEARN_SLURM_ACCOUNT or slurm_account in {SLURM_PROFILE}")
        elif account not in names:
            out.append(f"slurm_account '{account}' ({where}) may not use partition '{part}', which admits only "
                       f"{', '.join(names)}")
    return out


def check_profile(rules: Iterable[str], overrides: Mapping[str, Mapping[str, Mapping]],
                  default_resources: Mapping[str, object],
                  partitions_of: Callable[[], dict | None] = scontrol_partitions) -> None:
    """Raise ProfileError listing every problem of the profile; do nothing when all is well.

    ``overrides``: {'set-resources': {rule: {resource: raw value}}, 'set-threads': {rule: threads}};
    ``default_resources``: {resource: raw value}. Raw values are what the profile or command line wrote.
    """
    problems = unknown_rule_overrides(overrides, rules)
    per_rule = overrides.get("set-resources", {})
    slurm_keys = ("slurm_partition", "slurm_account")
    if any(k in default_resources for k in slurm_keys) or any(
            k in res for res in per_rule.values() for k in slurm_keys):
        partitions = partitions_of()
        if partitions is not None:
            base = (str(default_resources.get("slurm_partition") or ""), str(default_resources.get("slurm_account") or ""))
            requests = {"*": base}
            for rule, res in per_rule.items():
                if any(k in res for k in slurm_keys):
                    requests[rule] = (str(res.get("slurm_partition", base[0]) or ""),
                                      str(res.get("slurm_account", base[1]) or ""))
            problems += slurm_problems(requests, partitions)
    if problems:
        raise ProfileError("bad profile or command-line resources:\n  - " + "\n  - ".join(problems))
