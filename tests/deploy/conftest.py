"""Fixtures for the deploy tests: template.yaml as written, and as CloudFormation after the
SAM transform, both produced offline (no AWS account, credentials or network).

Run with `make deploy-checks` (it uses .venv-deploy, which has aws-sam-translator).
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import pytest

# The translator asks boto3 for a region (to pick the partition); no credentials are needed.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

try:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as exc:  # pragma: no cover - a hint for running outside .venv-deploy
    raise ImportError(
        "aws-sam-translator is missing: run these tests with `make deploy-checks` "
        "(.venv-deploy, from requirements-deploy.txt)"
    ) from exc

# The translator's own chatter (feature-toggle defaults, unpublished metrics) is not ours.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which would list IAM's managed
    policies with boto3. The template names no managed policy by name (only inline
    statements; SAM adds the Lambda basic-execution and X-Ray policies by ARN), so an empty
    name -> ARN map is enough."""

    def load(self) -> dict[str, str]:
        return {}


def load_sam_template() -> dict:
    return yaml_parse(TEMPLATE.read_text())


def translate(sam: dict, parameters: dict | None = None) -> dict:
    """SAM -> CloudFormation, as `sam deploy` would do it after `sam build`: local CodeUri
    values become the S3 artifacts `sam package` would upload."""
    sam = copy.deepcopy(sam)
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://offline-artifacts/function.zip"
    return transform(sam, dict(parameters or {}), _OfflinePolicyLoader())


@pytest.fixture(scope="session")
def sam_template() -> dict:
    """template.yaml as written (before the transform)."""
    return load_sam_template()


@pytest.fixture(scope="session")
def cfn(sam_template) -> dict:
    """The CloudFormation template the SAM transform produces (Stage defaults to dev)."""
    return translate(sam_template)


@pytest.fixture(scope="session")
def resources(cfn) -> dict:
    return cfn["Resources"]
