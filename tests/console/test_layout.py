"""The console's layout in a real browser at 1280 px and 1440 px (docs/console.md#layout): lists
fit their column, the dashboard uses the width and never breaks a word, the endpoint page has no
double-height or empty bars, read-only pages have no save buttons. Screenshots of the list,
dashboard, endpoint and fine-tune pages at 1280 px land in test-artifacts/screenshots/."""
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from endpoints import infra_state
from endpoints.models import EndpointEvent
from jobs.models import BatchJob, FineTuneTemplate, JobEvent
from tests.console.conftest import make_endpoint
from tests.console.test_browser import SCREENSHOTS, browser, open_console, shot  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WIDTHS = (1280, 1440)
LONG_REASON = ("pods cannot be scheduled: 0/12 nodes are available: 4 Insufficient nvidia.com/gpu, 8 node(s) had "
               "untolerated taint {node-lifecycle: spot}; preemption: 0/12 nodes are available: 12 No preemption "
               "victims found for incoming pod. Back-off pulling image \"public.ecr.aws/llm-engine/vllm:0.6.3\"")


@pytest.fixture
def fleet(failing_endpoint):
    """What a console of a real deployment holds: LLM and plain endpoints in every status, long
    names and reasons, observed state, events, fine-tunes with an endpoint, batch jobs."""
    endpoints = [failing_endpoint]
    statuses = ["READY", "UPDATE_FAILED", "UPDATE_PENDING", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "READY"]
    for index, status in enumerate(statuses * 2):
        llm = index % 2 == 0
        fields = dict(status=status, status_reason=LONG_REASON if status == "UPDATE_FAILED" else "",
                      endpoint_type=["sync", "streaming", "async"][index % 3], owner=f"research-team-{index % 3}",
                      gpus=4 if llm else 0, gpu_type="nvidia-ampere-a100e" if llm else None)
        if llm:
            fields.update(is_llm=True, inference_framework="vllm", model_name="llama-3-70b-instruct",
                          inference_framework_image_tag="0.6.3")
        endpoint = make_endpoint(f"mixtral-8x7b-instruct-support-summaries-v{index}", **fields)
        EndpointEvent.objects.create(endpoint=endpoint, old_status="UPDATE_PENDING", new_status=status,
                                     reason=LONG_REASON if status == "UPDATE_FAILED" else "build applied")
        endpoints.append(endpoint)
    infra_state.write_states({endpoint.pk: {"available_workers": 1, "unavailable_workers": 0, "replicas": 1,
                                            "num_queued_items": 1234, "pods": []} for endpoint in endpoints[1:]})
    template = FineTuneTemplate.objects.get(base_model="llama-2-7b")
    served = endpoints[1]
    now = timezone.now()
    for index, status in enumerate(["RUNNING", "SUCCESS", "FAILURE", "PENDING", "CANCELLED"]):
        job = BatchJob.objects.create(
            kind="fine_tune", status=status, owner="research-team-1", created_by="user-a", template=template,
            image="registry.example.com/llm-engine/fine-tune:1.0", mount_location="/restricted_launch/c.json",
            max_runtime_seconds=86400, fine_tuned_model=f"llama-2-7b.support-summaries.2612{index:02d}-120000",
            status_reason=LONG_REASON if status == "FAILURE" else "",
            launched_at=None if status == "PENDING" else now - timedelta(hours=3),
            completed_at=now - timedelta(hours=1) if status in ("SUCCESS", "FAILURE", "CANCELLED") else None,
            served_endpoint_id=served.pk if status == "SUCCESS" else "",
            job_config={"base_model": "llama-2-7b", "hyperparameters": {"epochs": 3}})
        JobEvent.objects.create(job=job, old_status="", new_status="PENDING", reason="created")
        BatchJob.objects.create(
            kind="batch_completion", status=status, owner="research-team-2", created_by="user-b",
            image="registry.example.com/llm-engine/batch:1.0", mount_location="/app/config.json",
            max_runtime_seconds=86400, status_reason=LONG_REASON if status == "FAILURE" else "",
            progress={"total": 200, "num_completed": 120, "num_failed": 2})
    return endpoints


@pytest.fixture
def console_at(open_console, operator):  # noqa: F811
    """The console as the operator sees it in a window `width` px wide."""
    return lambda width: open_console(operator, width=width, height=900)


# What the browser measures, as one script: each finding names the element.
MEASURE = """(selector) => {
  const found = [];
  const viewport = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > viewport + 1)
    found.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${viewport}`);
  const name = (el) => el.id ? '#' + el.id : (el.tagName + '.' + el.className + ' "' + el.innerText.slice(0, 40) + '"');
  for (const table of document.querySelectorAll(selector + ' table')) {
    const right = table.getBoundingClientRect().right;
    if (right > viewport + 1) found.push(`table ${name(table)} ends at ${right} > ${viewport}`);
    for (const cell of table.querySelectorAll('td, th')) {
      if (cell.scrollWidth > cell.clientWidth + 1) found.push(`cell cut off: ${name(cell)} ${cell.scrollWidth} > ${cell.clientWidth}`);
    }
    for (const row of table.querySelectorAll('tbody tr')) {
      const lineHeight = parseFloat(getComputedStyle(row).lineHeight) || 18;
      if (row.getBoundingClientRect().height > 4 * lineHeight + 20) found.push(`row too tall: ${name(row)} ${row.getBoundingClientRect().height}px`);
    }
  }
  // Words never broken: a status, an id or a name is one line box.
  for (const word of document.querySelectorAll(selector + ' .llme-status, ' + selector + ' .llme-id')) {
    if (word.getClientRects().length > 1) found.push(`word broken: ${name(word)}`);
  }
  return found;
}"""


def assert_fits(page, selector: str = "#content") -> None:
    assert page.evaluate(MEASURE, selector) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_endpoint_list_fits_its_column(console_at, fleet, live_server, width):
    page = console_at(width)
    page.goto(live_server.url + reverse("admin:endpoints_modelendpoint_changelist"))
    if width == 1280:
        shot(page, "10-endpoint-list-1280")
    assert_fits(page)
    reason = page.locator("#result_list td.field-short_reason span[title]").first
    assert reason.inner_text().endswith("…") and len(reason.inner_text()) <= 60
    assert reason.get_attribute("title") == LONG_REASON  # the whole text as its tooltip
    page.locator("#result_list").get_by_role("link", name=fleet[2].name, exact=True).click()
    assert LONG_REASON in page.inner_text("#endpoint-reason")  # the full text on the detail page


@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_uses_the_width_and_breaks_no_word(console_at, fleet, live_server, width):
    page = console_at(width)
    if width == 1280:
        shot(page, "11-dashboard-1280")
    assert_fits(page)
    dashboard = page.locator("#dashboard").bounding_box()
    assert dashboard["width"] >= 0.7 * width, dashboard


@pytest.mark.parametrize("width", WIDTHS)
def test_endpoint_page_has_single_height_bars_and_no_empty_bar(console_at, fleet, live_server, width):
    page = console_at(width)
    page.goto(live_server.url + reverse("admin:endpoints_modelendpoint_change", args=[quote(fleet[0].pk)]))
    if width == 1280:
        shot(page, "12-endpoint-1280")
    assert_fits(page)
    bars = page.evaluate("""() => [...document.querySelectorAll('#content h2, #content caption, .submit-row')]
        .filter(el => el.offsetParent !== null)
        .map(el => ({text: el.innerText.trim(), height: el.getBoundingClientRect().height,
                     line: parseFloat(getComputedStyle(el).lineHeight) || 16,
                     pad: parseFloat(getComputedStyle(el).paddingTop) + parseFloat(getComputedStyle(el).paddingBottom)}))""")
    assert bars
    for bar in bars:
        assert bar["text"], f"empty bar: {bar}"
    for bar in bars[:-1]:  # the headings; the last is the row with the Close button
        assert bar["height"] <= bar["line"] * 1.5 + bar["pad"] + 2, f"bar taller than one line: {bar}"
    # Nothing else draws a heading's colour where there is no heading (the empty bar).
    heading_colour = page.evaluate("getComputedStyle(document.querySelector('#observed-state h2')).backgroundColor")
    painted = page.evaluate("""(colour) => [...document.querySelectorAll('#content *')]
        .filter(el => getComputedStyle(el).backgroundColor === colour && el.getBoundingClientRect().height > 40)
        .map(el => el.tagName + ' ' + el.innerText.slice(0, 30))""", heading_colour)
    assert painted == []
    assert page.locator("input[name=_save], input[name=_continue]").count() == 0
    assert page.title().startswith("View ") or "View model endpoint" in page.inner_text("#content h1, #content-main h1") \
        or page.locator("h1").first.inner_text().startswith("View")


@pytest.mark.parametrize("width", WIDTHS)
def test_fine_tune_list_and_page_fit(console_at, fleet, live_server, width):
    page = console_at(width)
    page.goto(live_server.url + reverse("admin:jobs_finetune_changelist"))
    if width == 1280:
        shot(page, "13-fine-tune-list-1280")
    assert_fits(page)
    job = BatchJob.objects.get(kind="fine_tune", status="SUCCESS")
    page.goto(live_server.url + reverse("admin:jobs_finetune_change", args=[quote(job.pk)]))
    if width == 1280:
        shot(page, "14-fine-tune-1280")
    assert_fits(page)
    assert page.locator("h1").first.inner_text().startswith("View fine-tune")
    assert page.locator("input[name=_save], input[name=_continue]").count() == 0
    assert page.locator(f"a[href='{reverse('admin:endpoints_modelendpoint_change', args=[quote(fleet[1].pk)])}']").count() >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_batch_job_list_and_page_fit_and_are_read_only(console_at, fleet, live_server, width):
    page = console_at(width)
    page.goto(live_server.url + reverse("admin:jobs_batchjob_changelist"))
    assert_fits(page)
    job = BatchJob.objects.filter(kind="batch_completion").first()
    page.goto(live_server.url + reverse("admin:jobs_batchjob_change", args=[quote(job.pk)]))
    if width == 1280:
        shot(page, "15-batch-job-1280")
    assert_fits(page)
    assert page.locator("h1").first.inner_text().startswith("View batch job")
    assert page.locator("input[name=_save], input[name=_continue], input[name=_addanother]").count() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_every_list_fits_its_column(console_at, fleet, live_server, width):
    """The other lists hold the same long names and reasons (events, bundles, keys, jobs'
    neighbours, reference tables): each fits at both widths."""
    from llmengine_site.services import api_key_create

    api_key_create(user_id="a-rather-long-user-name-for-a-pipeline", team_id="research-team-1", name="nightly evaluation")
    page, found = console_at(width), {}
    for name in ("endpoints_endpointevent", "endpoints_modelbundle", "endpoints_recommendedhardware",
                 "endpoints_modelrepository", "llmengine_site_apikey", "jobs_file", "jobs_trigger",
                 "jobs_finetunetemplate", "jobs_dockerimagebatchjobbundle", "jobs_batchjob", "jobs_finetune"):
        assert page.goto(live_server.url + reverse(f"admin:{name}_changelist")).status == 200, name
        found[name] = page.evaluate(MEASURE, "#content")
    assert {name: findings for name, findings in found.items() if findings} == {}
