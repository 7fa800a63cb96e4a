"""The chart's `allowedHosts` and `tls` values reach the gateway as LLME_ALLOWED_HOSTS,
LLME_TLS_TERMINATED and LLME_HSTS_SECONDS (docs/security.md#console-sign-in), and the hosts the
cluster itself uses (probes, KEDA, trigger CronJobs) stay allowed."""
from urllib.parse import urlsplit

from django.http.request import validate_host

from tests.chart.helm import containers, find, render, sets, template_result


def _settings(objects):
    return find(objects, "ConfigMap", "llm-engine-config")["data"]


def _gateway(objects):
    (gateway,) = containers(find(objects, "Deployment", "llm-engine"))
    return gateway


def test_defaults_answer_any_host_and_say_tls_is_not_terminated_in_front():
    settings = _settings(render())
    assert settings["LLME_ALLOWED_HOSTS"] == "*"
    assert settings["LLME_TLS_TERMINATED"] == "false"
    assert "LLME_HSTS_SECONDS" not in settings


def test_allowed_hosts_keep_the_names_the_cluster_uses():
    objects = render(*sets("allowedHosts={llm.example.com,.internal.example.com}"))
    settings = _settings(objects)
    allowed = settings["LLME_ALLOWED_HOSTS"].split(",")
    assert validate_host("llm.example.com", allowed)
    assert validate_host("api.internal.example.com", allowed)
    assert not validate_host("evil.example.net", allowed)
    assert "*" not in allowed
    # KEDA and the trigger CronJobs call LLME_GATEWAY_URL; kubectl port-forward uses localhost.
    assert validate_host(urlsplit(settings["LLME_GATEWAY_URL"]).hostname, allowed)
    assert validate_host("localhost", allowed)
    # The probes send a Host header the list holds (the pod IP cannot be listed).
    gateway = _gateway(objects)
    for probe in ("readinessProbe", "livenessProbe"):
        headers = {h["name"]: h["value"] for h in gateway[probe]["httpGet"]["httpHeaders"]}
        assert validate_host(headers["Host"], allowed), probe


def test_tls_terminated_in_front_sets_the_gateway_environment():
    settings = _settings(render(*sets("tls.terminatedInFront=true", "tls.hstsSeconds=600")))
    assert settings["LLME_TLS_TERMINATED"] == "true"
    assert settings["LLME_HSTS_SECONDS"] == "600"


def test_a_url_given_as_a_host_is_refused_naming_the_value():
    result = template_result(*sets("allowedHosts={https://llm.example.com}"))
    assert result.returncode != 0 and "allowedHosts" in result.stderr
