from tests.chart.helm import CHART, REQUIRED_SETS, SAMPLE_VALUES, helm, sets


def test_lint_strict_passes_with_values_yaml_and_the_required_values():
    result = helm("lint", str(CHART), "--strict", *sets(*REQUIRED_SETS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_lint_strict_passes_with_values_sample_yaml():
    result = helm("lint", str(CHART), "--strict", "-f", str(SAMPLE_VALUES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_chart_is_named_llm_engine():
    result = helm("show", "chart", str(CHART))
    assert result.returncode == 0, result.stderr
    assert "name: llm-engine" in result.stdout.splitlines()
