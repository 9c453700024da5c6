# Stage 2: the pretrained CLIP, the zero-shot head, and backdoor fine-tuning (any model adapter).


rule pretrain_clip:
    input:
        pretrain_inputs,
    output:
        weights=f"{RS}/models/pretrained/model.safetensors",
        spec=f"{RS}/models/pretrained/spec.json",
        report=f"{RS}/models/pretrained/pretrain.json",
    params:
        args=lambda w: as_arg(pretrain_params(w)),
        datadir=lambda w, input: f"--datadir {Path(input[0]).parent}" if input else "",
        outdir=lambda w, output: str(Path(output.weights).parent),
    log:
        f"{RS}/logs/pretrain_clip/pretrain_clip.log",
    benchmark:
        f"{RS}/benchmarks/pretrain_clip/pretrain_clip.tsv"
    threads: CFG["pretrain"]["threads"]
    # first in line: it heads the image track's chain and takes every core it is given, so it should not wait
    # for the text jobs and then run alone while the other core idles
    priority: 10
    resources:
        gpu=1,
        **job_resources("pretrain_clip"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu pretrain_clip --params {params.args} --threads {threads} {params.datadir} "
        "--outdir {params.outdir} > {log} 2>&1"


rule build_head:
    input:
        weights=rules.pretrain_clip.output.weights,
        spec=rules.pretrain_clip.output.spec,
        classes=f"{RS}/data/{{dataset}}/classes.json",
    output:
        f"{RS}/models/{{dataset}}/head.safetensors",
    params:
        args=lambda w: as_arg(base_params(w, "device")),
        pretrained=lambda w, input: str(Path(input.weights).parent),
    log:
        f"{RS}/logs/build_head/{{dataset}}.log",
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("build_head"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu build_head --params {params.args} --threads {threads} --pretrained {params.pretrained} "
        "--classes {input.classes} --out {output} > {log} 2>&1"


rule finetune_backdoor:
    input:
        unpack(model_inputs),
        data=f"{RS}/poisoned/{{dataset}}/{{attack}}/train_poisoned.parquet",
    output:
        weights=model_weights(f"{RS}/models/{{dataset}}/{{attack}}/backdoored.safetensors"),
        history=f"{RS}/models/{{dataset}}/{{attack}}/backdoored.json",
    params:
        args=lambda w: as_arg(finetune_params(w)),
        model=lambda w: as_arg(model_spec(w)),
    log:
        f"{RS}/logs/finetune_backdoor/{{dataset}}_{{attack}}.log",
    benchmark:
        f"{RS}/benchmarks/finetune_backdoor/{{dataset}}_{{attack}}.tsv"
    threads: CFG["threads"]
    resources:
        gpu=1,
        **job_resources("finetune_backdoor"),
    conda:
        "../../envs/bdunlearn.yaml"
    shell:
        "bdu_gpu finetune_backdoor --params {params.args} --threads {threads} --model {params.model} "
        "--data {input.data} --out {output.weights} --history {output.history} > {log} 2>&1"
