"""The operator console's admin site: the Django admin with a dashboard as its index
(docs/console.md).

Loaded by `ConsoleAdminConfig` (llmengine_site/admin_site.py) once the app registry is ready,
so it imports both apps' read helpers plainly."""
from datetime import datetime

from django.contrib import admin

from endpoints import admin_queries
from jobs.selectors import dashboard_summary as jobs_dashboard_summary


def _as_datetime(value):
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def jobs_section(summary: dict) -> dict:
    """The jobs summary as the dashboard shows it, from the shape `dashboard_summary` documents:
    integer counts by state, and "recent": [{"id", "kind", "status", "owner", "created_at" (ISO
    8601), "url"}]."""
    counts = [(state, count) for state, count in summary.items() if isinstance(count, int) and not isinstance(count, bool)]
    recent = [{**job, "created_at": _as_datetime(job.get("created_at"))} for job in summary.get("recent") or []]
    return {"counts": counts, "recent": recent}


class ConsoleAdminSite(admin.AdminSite):
    site_header = "LLM Engine console"
    site_title = "LLM Engine"
    index_title = "Dashboard"
    index_template = "admin/console/index.html"
    site_url = "/"  # "View site": the landing page (llmengine_site/landing.py)
    # The width goes to the lists (docs/console.md#layout); the dashboard and breadcrumbs navigate.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        """The dashboard: a bounded number of queries whatever the number of endpoints."""
        return super().index(request, extra_context={**self.dashboard_context(request), **(extra_context or {})})

    def dashboard_context(self, request) -> dict:
        # Staff without any endpoint permission still get the app list, not the numbers.
        if not request.user.has_perm("endpoints.view_modelendpoint"):
            return {"dashboard": None}
        return {
            "dashboard": {
                "status_counts": admin_queries.endpoint_status_counts(),
                "failing": admin_queries.failing_endpoints(),
                "queues": admin_queries.async_endpoint_queues(),
                "events": admin_queries.recent_events(),
                "jobs": jobs_section(jobs_dashboard_summary()),
            }
        }
