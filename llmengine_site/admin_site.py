"""The operator console: the Django admin with a dashboard as its index.

Settings select it by naming `llmengine_site.admin_site.ConsoleAdminConfig` instead of
`django.contrib.admin` in INSTALLED_APPS.
"""
import importlib
from datetime import datetime

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


def jobs_dashboard_summary():
    """`jobs.selectors.dashboard_summary` when the jobs app provides it, else None: the dashboard
    then leaves the jobs section out. A jobs module that fails for another reason still fails."""
    try:
        selectors = importlib.import_module("jobs.selectors")
    except ModuleNotFoundError as exc:
        if exc.name != "jobs.selectors":
            raise
        return None
    return getattr(selectors, "dashboard_summary", None)


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

    def index(self, request, extra_context=None):
        """The dashboard: a bounded number of queries whatever the number of endpoints."""
        return super().index(request, extra_context={**self.dashboard_context(request), **(extra_context or {})})

    def dashboard_context(self, request) -> dict:
        from endpoints import admin_queries  # imports models: not while the app registry loads this module

        # Staff without any endpoint permission still get the app list, not the numbers.
        if not request.user.has_perm("endpoints.view_modelendpoint"):
            return {"dashboard": None}
        jobs_summary = jobs_dashboard_summary()
        return {
            "dashboard": {
                "status_counts": admin_queries.endpoint_status_counts(),
                "failing": admin_queries.failing_endpoints(),
                "queues": admin_queries.async_endpoint_queues(),
                "events": admin_queries.recent_events(),
                "jobs": jobs_section(jobs_summary()) if jobs_summary else None,
            }
        }


class ConsoleAdminConfig(AdminConfig):
    default_site = "llmengine_site.admin_site.ConsoleAdminSite"
