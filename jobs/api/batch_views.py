"""Batch completions, docker-image batch job bundles and jobs, triggers, and the legacy batch
job routes (docs/wire-contract.md#batch-completions, docs/wire-contract.md#docker-image-batch-jobs,
docs/wire-contract.md#triggers). Thin: parse, call, render."""
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import selectors
from jobs.api import serializers as bodies
from jobs.api.presenters import bundle_body, docker_image_batch_job_body, trigger_body
from jobs.choices import JobKind
from jobs.services import batch_completions, docker_jobs, runs, triggers
from llmengine_site.api.bodies import strip_nulls, validated
from llmengine_site.api.ordering import order_by
from llmengine_site.choices import OrderBy
from llmengine_site.errors import InvalidRequest, ObjectNotFound

ORDERINGS = (OrderBy.NEWEST, OrderBy.OLDEST)  # jobs have no name to sort by

BATCH_COMPLETION_NOT_FOUND = "The specified batch completion job could not be found."


class BatchCompletionV1View(APIView):
    request_serializers = {"post": bodies.BatchCompletionV1Serializer}

    def post(self, request):
        data = validated(bodies.BatchCompletionV1Serializer, strip_nulls(request.data))
        return Response({"job_id": batch_completions.batch_completion_create(request.user, data, 1).id})


class BatchCompletionV2ListView(APIView):
    request_serializers = {"post": bodies.BatchCompletionV2Serializer}

    def post(self, request):
        data = validated(bodies.BatchCompletionV2Serializer, strip_nulls(request.data))
        job = batch_completions.batch_completion_create(request.user, data, 2)
        return Response(batch_completions.batch_completion_body(job))


def _batch_completion(request, batch_completion_id):
    return selectors.job_owned_by(request.user, batch_completion_id, JobKind.BATCH_COMPLETION, BATCH_COMPLETION_NOT_FOUND)


class BatchCompletionV2DetailView(APIView):
    request_serializers = {"post": bodies.UpdateBatchCompletionSerializer}

    def get(self, request, batch_completion_id):
        return Response({"job": batch_completions.batch_completion_body(_batch_completion(request, batch_completion_id))})

    def post(self, request, batch_completion_id):
        """V5: update the priority (recorded; see `batch_completion_set_priority`)."""
        data = validated(bodies.UpdateBatchCompletionSerializer, strip_nulls(request.data))
        if "priority" not in data:
            raise InvalidRequest("priority: the only field that can be updated; give a value")
        job = batch_completions.batch_completion_set_priority(_batch_completion(request, batch_completion_id), data["priority"])
        return Response({**batch_completions.batch_completion_body(job), "success": True})


class BatchCompletionV2CancelView(APIView):
    def post(self, request, batch_completion_id):
        return Response({"success": runs.job_cancel(_batch_completion(request, batch_completion_id))})


class BundleListView(APIView):
    request_serializers = {"post": bodies.CreateBundleSerializer}

    def get(self, request):
        bundles = selectors.bundles_owned_by(request.user, name=request.query_params.get("bundle_name"),
                                             order_by=order_by(request, ORDERINGS))
        return Response({"docker_image_batch_job_bundles": [bundle_body(b) for b in bundles]})

    def post(self, request):
        data = validated(bodies.CreateBundleSerializer, strip_nulls(request.data))
        bundle = docker_jobs.bundle_create(request.user, data)
        return Response({"docker_image_batch_job_bundle_id": bundle.id})


class BundleLatestView(APIView):
    def get(self, request):
        name = request.query_params.get("bundle_name")
        if not name:
            raise serializers.ValidationError({"bundle_name": ["This query parameter is required."]})
        return Response(bundle_body(selectors.latest_bundle(request.user, name)))


class BundleDetailView(APIView):
    def get(self, request, bundle_id):
        return Response(bundle_body(selectors.bundle_owned_by(request.user, bundle_id)))


class DockerImageBatchJobListView(APIView):
    request_serializers = {"post": bodies.CreateDockerImageBatchJobSerializer}

    def get(self, request):
        jobs = selectors.jobs_owned_by(request.user, JobKind.DOCKER_IMAGE)
        trigger_id = request.query_params.get("trigger_id")
        if trigger_id:
            jobs = jobs.filter(trigger=selectors.trigger_owned_by(request.user, trigger_id))
        return Response({"jobs": [docker_image_batch_job_body(job) for job in jobs]})

    def post(self, request):
        data = validated(bodies.CreateDockerImageBatchJobSerializer, strip_nulls(request.data))
        return Response({"job_id": docker_jobs.docker_image_batch_job_create(request.user, data).id})


class DockerImageBatchJobDetailView(APIView):
    request_serializers = {"put": bodies.UpdateDockerImageBatchJobSerializer}

    def get(self, request, batch_job_id):
        return Response({"status": selectors.job_owned_by(request.user, batch_job_id).status})

    def put(self, request, batch_job_id):
        data = validated(bodies.UpdateDockerImageBatchJobSerializer, strip_nulls(request.data))
        job = selectors.job_owned_by(request.user, batch_job_id)
        return Response({"success": runs.job_cancel(job) if data["cancel"] else False})


class TriggerListView(APIView):
    request_serializers = {"post": bodies.CreateTriggerSerializer}

    def get(self, request):
        return Response({"triggers": [trigger_body(t) for t in selectors.triggers_owned_by(request.user)]})

    def post(self, request):
        data = validated(bodies.CreateTriggerSerializer, strip_nulls(request.data))
        return Response({"trigger_id": triggers.trigger_create(request.user, data).id})


class TriggerDetailView(APIView):
    request_serializers = {"put": bodies.UpdateTriggerSerializer}

    def get(self, request, trigger_id):
        return Response(trigger_body(selectors.trigger_owned_by(request.user, trigger_id)))

    def put(self, request, trigger_id):
        data = validated(bodies.UpdateTriggerSerializer, strip_nulls(request.data))
        triggers.trigger_update(selectors.trigger_owned_by(request.user, trigger_id), **data)
        return Response({"success": True})

    def delete(self, request, trigger_id):
        triggers.trigger_delete(selectors.trigger_owned_by(request.user, trigger_id))
        return Response({"success": True})


LEGACY_UNSUPPORTED = (
    "Batch jobs over model bundles (/v1/batch-jobs) are not supported by this deployment: use docker-image batch "
    "jobs (/v1/docker-image-batch-jobs) or batch completions (/v1/llm/batch-completions)."
)


class LegacyBatchJobListView(APIView):
    def post(self, request):
        raise InvalidRequest(LEGACY_UNSUPPORTED)


class LegacyBatchJobDetailView(APIView):
    """No such job can exist here; answer like an unknown id."""

    def get(self, request, batch_job_id):
        raise ObjectNotFound("The specified batch job could not be found.")

    put = get
