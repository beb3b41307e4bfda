"""The Lambda code asset, bundled on this machine (no Docker) by ``infra.packaging``.

CDK calls :class:`LocalBundler` during synth; it builds the one shared bundle (core package,
its arm64 wheels for the target Python, the handlers, compiled bytecode) into CDK's output
directory. The asset hash is the packaging cache key (sources, pyproject, target), so an
unchanged tree re-uses the asset. ``-c aws:cdk:bundling-stacks=[]`` (the tests) skips it.
"""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.config import StageConfig
from infra.packaging import ARM64_PLATFORM, build_bundle, cache_key

#: never pulled: bundling is local; CDK only requires an image to be named
UNUSED_IMAGE = "public.ecr.aws/sam/build-python3.13"


@jsii.implements(ILocalBundling)
class LocalBundler:
    def __init__(self, root: Path, python: str) -> None:
        self.root, self.python = root, python

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:  # jsii: positional
        report = build_bundle(
            self.root,
            Path(output_dir),
            python_version=self.python,
            cache_dir=self.root / "build" / "lambda-cache",
        )
        print(report.as_text())
        return True


def lambda_code(root: Path, config: StageConfig) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(root / "functions"),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=cache_key(root, python_version=config.python, platform=ARM64_PLATFORM),
        bundling=BundlingOptions(
            image=DockerImage.from_registry(UNUSED_IMAGE),
            local=LocalBundler(root, config.python),
        ),
    )
