"""How many NVIDIA GPUs each SageMaker GPU instance type has: a scale-to-zero model copy takes all of them."""

from __future__ import annotations

# AWS's instance type pages (aws.amazon.com/ec2/instance-types/g4, g5, g6, g6e, p4, p5), the same hardware
# SageMaker sells as ml.<type>; ml.p5.4xlarge (one H100), ml.p6-b200 and ml.g7e also from AWS's own table in
# aws/sagemaker-hyperpod-cli (INSTANCE_RESOURCES; g7e in its PR #390) and kubernetes/autoscaler#9854 (g7e sizes).
# Left out, and so refused with scaleToZero: ml.p2/ml.p3 (K80/V100, which the CUDA 13 image does not support),
# ml.p6e-gb200 (an Arm host), and types whose count no such source gives yet (ml.g7, ml.p6-b300).
GPUS_BY_INSTANCE_TYPE: dict[str, int] = {
    **{f"ml.g4dn.{size}": 1 for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "ml.g4dn.12xlarge": 4,
    **{
        f"ml.{family}.{size}": 1
        for family in ("g5", "g6", "g6e")
        for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    },
    **{f"ml.{family}.{size}": 4 for family in ("g5", "g6", "g6e") for size in ("12xlarge", "24xlarge")},
    **{f"ml.{family}.48xlarge": 8 for family in ("g5", "g6", "g6e", "g7e", "p5", "p5e", "p5en", "p6-b200")},
    **{f"ml.g7e.{size}": 1 for size in ("2xlarge", "4xlarge", "8xlarge")},
    "ml.g7e.12xlarge": 2,
    "ml.g7e.24xlarge": 4,
    "ml.p4d.24xlarge": 8,
    "ml.p4de.24xlarge": 8,
    "ml.p5.4xlarge": 1,
}


def known_families() -> str:
    """The families the table covers, for error messages: `ml.g4dn, ml.g5, …`."""
    return ", ".join(sorted({instance_type.rsplit(".", 1)[0] for instance_type in GPUS_BY_INSTANCE_TYPE}))


def gpus_of(instance_type: str) -> int:
    """GPUs on an instance type, or a clear error for one the table does not know."""
    try:
        return GPUS_BY_INSTANCE_TYPE[instance_type]
    except KeyError:
        raise ValueError(
            f"scaleToZero: no GPU count is known for instance type {instance_type!r} "
            f"(known families: {known_families()}); pick one of those or set scaleToZero: false."
        ) from None
