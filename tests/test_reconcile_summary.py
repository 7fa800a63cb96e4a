"""Both reconcilers report in one shape (llmengine_site/reconcile_summary.py,
docs/operations.md#commands): the cacher prints them the same way."""
from endpoints.reconciler import Summary
from jobs.reconciler import JobsSummary
from llmengine_site.cacher import _eventful
from llmengine_site.reconcile_summary import ReconcileSummary


def test_both_summaries_share_one_shape_and_one_line_format():
    endpoints, jobs = Summary(observed=3, resent=["end_1"]), JobsSummary(observed=2, launched=["ft_1"], pruned=["x"])
    assert isinstance(endpoints, ReconcileSummary) and isinstance(jobs, ReconcileSummary)
    assert str(endpoints) == ("observed 3 endpoint(s); status changes: 0; pruned: 0; errors: 0; re-sent: 1; "
                              "repaired: 0; image caches: 0")
    assert str(jobs) == ("observed 2 job(s); status changes: 0; pruned: 1; errors: 0; launched: 1; served: 0; "
                         "reaped: 0")


def test_a_pass_that_changed_nothing_prints_no_line():
    assert not _eventful(Summary(observed=5)) and not _eventful(JobsSummary(observed=5))
    assert _eventful(JobsSummary(errors=["could not read"])) and _eventful(Summary(repaired=["end_1"]))
