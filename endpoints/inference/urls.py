from django.urls import path

from endpoints.inference import task_reports, task_views, views

urlpatterns = [
    path("v1/llm/completions-sync", views.completions_sync),
    path("v1/llm/completions-stream", views.completions_stream),
    path("v1/chat/completions", views.chat_completions),
    path("v1/completions", views.openai_completions),
    path("v1/models", views.list_models),
    path("v2/chat/completions", views.chat_completions),
    path("v2/completions", views.openai_completions),
    path("v1/sync-tasks", task_views.sync_task),
    path("v1/streaming-tasks", task_views.streaming_task),
    path("v1/async-tasks", task_views.create_async_task),
    path("v1/async-tasks/<str:task_id>", task_views.get_async_task),
    path("v1/internal/endpoints/<str:endpoint_id>/autoscaling-metrics", views.autoscaling_metrics),
    path("v1/internal/endpoints/<str:endpoint_id>/tasks/<str:task_id>", task_reports.report_task),
]
