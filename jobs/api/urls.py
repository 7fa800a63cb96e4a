"""Routes of the jobs app. Included before the endpoints routes, so the fixed path
`v1/llm/model-endpoints/download` wins over `v1/llm/model-endpoints/<name>`
(docs/wire-contract.md#http-conventions)."""
from django.urls import path

from jobs.api import batch_views, views

urlpatterns = [
    path("v1/files", views.FileListView.as_view()),
    path("v1/files/<str:file_id>", views.FileDetailView.as_view()),
    path("v1/files/<str:file_id>/content", views.FileContentView.as_view()),
    path("v1/llm/fine-tunes", views.FineTuneListView.as_view()),
    path("v1/llm/fine-tunes/<str:fine_tune_id>", views.FineTuneDetailView.as_view()),
    path("v1/llm/fine-tunes/<str:fine_tune_id>/cancel", views.FineTuneCancelView.as_view()),
    path("v1/llm/fine-tunes/<str:fine_tune_id>/events", views.FineTuneEventsView.as_view()),
    path("v1/llm/model-endpoints/download", views.ModelDownloadView.as_view()),
    path("v1/llm/batch-completions", batch_views.BatchCompletionV1View.as_view()),
    path("v2/batch-completions", batch_views.BatchCompletionV2ListView.as_view()),
    path("v2/batch-completions/<str:batch_completion_id>", batch_views.BatchCompletionV2DetailView.as_view()),
    path("v2/batch-completions/<str:batch_completion_id>/actions/cancel", batch_views.BatchCompletionV2CancelView.as_view()),
    path("v1/docker-image-batch-job-bundles", batch_views.BundleListView.as_view()),
    path("v1/docker-image-batch-job-bundles/latest", batch_views.BundleLatestView.as_view()),
    path("v1/docker-image-batch-job-bundles/<str:bundle_id>", batch_views.BundleDetailView.as_view()),
    path("v1/docker-image-batch-jobs", batch_views.DockerImageBatchJobListView.as_view()),
    path("v1/docker-image-batch-jobs/<str:batch_job_id>", batch_views.DockerImageBatchJobDetailView.as_view()),
    path("v1/triggers", batch_views.TriggerListView.as_view()),
    path("v1/triggers/<str:trigger_id>", batch_views.TriggerDetailView.as_view()),
    path("v1/batch-jobs", batch_views.LegacyBatchJobListView.as_view()),
    path("v1/batch-jobs/<str:batch_job_id>", batch_views.LegacyBatchJobDetailView.as_view()),
]
