# bdunlearn: backdoor unlearning as one DAG of cached steps.
# All logic lives in src/bdunlearn; each rule calls one module of it.
# Run: snakemake --cores N  (config: config.yaml, or --configfile configs/<table>.yaml)

from snakemake.utils import min_version

min_version("8.10")


# `make report` (snakemake --report results/<study>/report.html): every table and plot, with captions
report: "workflow/report/workflow.rst"


# The embedded default applies only when no --configfile is given, so a paper
# config never inherits the default's datasets (Snakemake would merge them).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/tbar.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/unlearn.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/captions.smk"
include: "workflow/rules/llm.smk"


rule all:
    input:
        table_outputs(),
        analysis_outputs(),
        llm_outputs(),
    default_target: True


check_profile()
