"""cdk-nag (AWS Solutions) with every acknowledgement reasoned, and cfn-lint, both clean."""

from __future__ import annotations

import pytest

from support.cdk_synth import ROOT, Synth

pytestmark = pytest.mark.slow


def test_cdk_nag_has_no_unacknowledged_findings(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        for plugin in synthesized.report()["pluginReports"]:
            assert plugin["pluginName"] == "AwsSolutions"
            assert plugin["violations"] == []
            assert plugin["conclusion"] == "success"
            for acknowledged in plugin["suppressedViolations"]:
                assert len(acknowledged["reason"]) > 40, acknowledged["acknowledgedId"]


def test_cfn_lint_is_clean(dev: Synth, prod: Synth, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from cfnlint.api import ManualArgs, lint

    ignore = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())["ignore_checks"]
    for synthesized in (dev, prod):
        monkeypatch.chdir(synthesized.outdir)  # not the repo's .cfnlintrc (it names cdk.out/)
        templates = sorted(synthesized.outdir.glob("*.template.json"))
        assert len(templates) == 2
        for template in templates:
            config = ManualArgs(ignore_checks=ignore, regions=["eu-west-1"])
            matches = list(lint(template.read_text(), config=config))
            assert matches == [], (template.name, [str(m) for m in matches])
