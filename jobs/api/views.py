"""Files, fine-tune and model-download routes (docs/wire-contract.md#fine-tunes-and-model-download,
docs/wire-contract.md#files).

Thin: parse, call a service or selector, render. Every success is a 200 with JSON."""
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import events, selectors
from jobs.api.presenters import file_body, fine_tune_body
from jobs.api.serializers import CreateFineTuneSerializer, ModelDownloadSerializer
from jobs.choices import JobKind
from jobs.services import files, fine_tunes
from llmengine_site.api.bodies import strip_nulls, validated

# Multipart framing around the file part; the limit is on the file, not the envelope.
MULTIPART_SLACK_BYTES = 64 * 1024


class FileListView(APIView):
    def get(self, request):
        return Response({"files": [file_body(f) for f in selectors.files_owned_by(request.user)]})

    def post(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0) if str(request.META.get("CONTENT_LENGTH") or "0").isdigit() else 0
        if length > files.max_upload_bytes() + MULTIPART_SLACK_BYTES:
            raise files.too_large(length)  # before Django reads the body
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": ["a multipart/form-data part named 'file' is required"]})
        return Response({"id": files.file_upload(request.user, upload).id})


class FileDetailView(APIView):
    def get(self, request, file_id):
        return Response(file_body(selectors.file_owned_by(request.user, file_id)))

    def delete(self, request, file_id):
        files.file_delete(selectors.file_owned_by(request.user, file_id))
        return Response({"deleted": True})


class FileContentView(APIView):
    def get(self, request, file_id):
        file = selectors.file_owned_by(request.user, file_id)
        return Response({"id": file.id, "content": files.file_content_text(file)})


class FineTuneListView(APIView):
    request_serializers = {"post": CreateFineTuneSerializer}

    def get(self, request):
        # Cancelled fine-tunes leave the list, as upstream's clients expect (the row stays).
        jobs = selectors.jobs_owned_by(request.user, JobKind.FINE_TUNE).filter(cancel_requested_at__isnull=True)
        return Response({"jobs": [fine_tune_body(job) for job in jobs]})

    def post(self, request):
        data = validated(CreateFineTuneSerializer, strip_nulls(request.data))
        return Response({"id": fine_tunes.fine_tune_create(request.user, data).id})


class FineTuneDetailView(APIView):
    def get(self, request, fine_tune_id):
        return Response(fine_tune_body(selectors.fine_tune_owned_by(request.user, fine_tune_id)))


class FineTuneCancelView(APIView):
    def put(self, request, fine_tune_id):
        # The client sends a JSON `null` body; there is nothing to read. Unknown ids answer
        # `success: false`, as upstream does, rather than 404.
        job = selectors.jobs_owned_by(request.user, JobKind.FINE_TUNE).filter(pk=fine_tune_id).first()
        return Response({"success": bool(job) and fine_tunes.fine_tune_cancel(job)})


class FineTuneEventsView(APIView):
    def get(self, request, fine_tune_id):
        job = selectors.fine_tune_owned_by(request.user, fine_tune_id,
                                           message="The specified fine-tune job's events could not be found.")
        return Response({"events": events.fine_tune_events(job)})


class ModelDownloadView(APIView):
    request_serializers = {"post": ModelDownloadSerializer}

    def post(self, request):
        data = validated(ModelDownloadSerializer, strip_nulls(request.data))
        urls = fine_tunes.fine_tuned_weights_urls(request.user, data["model_name"])
        return Response({"urls": urls})
