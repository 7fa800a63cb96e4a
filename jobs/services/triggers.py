"""Triggers (docs/wire-contract.md#triggers): a CronJob that POSTs a docker-image batch job
request to the gateway on schedule, with a credential of its own.

Guarantees: the credential is an API key issued for the trigger alone (name `trigger <id>`),
held only in the trigger's Kubernetes Secret, and revoked the moment the trigger is deleted;
an invalid cron expression is refused with a 400 naming it; nothing is created on bad input.
"""
from croniter import croniter
from django.db import IntegrityError, transaction
from django.db.models import F

from jobs import selectors
from jobs.models import Trigger
from jobs.tasks import sync_trigger
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest
from llmengine_site.transient import on_commit_best_effort
from llmengine_site.services import api_key_revoke

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(expression: str) -> None:
    """Kubernetes CronJob syntax: five fields or one of the macros; croniter checks the fields."""
    expression = expression.strip()
    if expression in CRON_MACROS:
        return
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidRequest(
            f"The user specified an invalid value for cron_schedule: {expression!r} (use five fields, "
            f"e.g. '0 * * * *', or one of {', '.join(CRON_MACROS)})"
        )


def _send_sync(trigger_id: str) -> None:
    on_commit_best_effort(f"sync message of trigger {trigger_id}", sync_trigger.send, trigger_id)


def trigger_create(caller: Caller, data: dict) -> Trigger:
    check_cron(data["cron_schedule"])
    bundle = selectors.bundle_for_use(caller, bundle_id=data["bundle_id"])
    if not bundle.cpus or not bundle.memory:
        raise InvalidRequest("Bundle must specify value for cpus and memory")
    if selectors.triggers_owned_by(caller).filter(name=data["name"]).exists():
        raise InvalidRequest(f"A trigger named {data['name']!r} already exists.")
    try:
        with transaction.atomic():
            trigger = Trigger.objects.create(
                owner=caller.team_id, created_by=caller.user_id, name=data["name"],
                cron_schedule=data["cron_schedule"].strip(), bundle=bundle,
                default_job_config=data.get("default_job_config"), default_job_metadata=data.get("default_job_metadata"),
            )
            _send_sync(trigger.id)
    except IntegrityError as exc:
        raise InvalidRequest(f"A trigger named {data['name']!r} already exists.") from exc
    return trigger


def trigger_update(trigger: Trigger, *, cron_schedule: str | None = None, suspend: bool | None = None) -> None:
    if cron_schedule is not None:
        check_cron(cron_schedule)
    changes = {}
    if cron_schedule is not None:
        changes["cron_schedule"] = cron_schedule.strip()
    if suspend is not None:
        changes["suspend"] = suspend
    if not changes:
        return
    with transaction.atomic():
        Trigger.objects.filter(pk=trigger.pk).update(spec_version=F("spec_version") + 1, **changes)
        _send_sync(trigger.id)


def trigger_delete(trigger: Trigger) -> None:
    """Revoke the credential now, delete the row, and remove the CronJob and Secret after
    commit (the reconciler also prunes them should that message be lost)."""
    with transaction.atomic():
        if trigger.api_key is not None:
            api_key_revoke(trigger.api_key)
        Trigger.objects.filter(pk=trigger.pk).delete()
        _send_sync(trigger.id)
