from django.urls import path

from endpoints.api import views

urlpatterns = [
    path("v1/llm/model-endpoints", views.LLMEndpointListView.as_view()),
    path("v1/llm/model-endpoints/<str:model_endpoint_name>", views.LLMEndpointDetailView.as_view()),
    path("v1/model-endpoints", views.EndpointListView.as_view()),
    path("v1/model-endpoints/<str:model_endpoint_id>", views.EndpointDetailView.as_view()),
    path("v1/model-endpoints/<str:model_endpoint_id>/restart", views.EndpointRestartView.as_view()),
]

for _version, (_list, _clone, _latest, _detail) in views.BUNDLE_VIEWS.items():
    # `clone-with-changes` and `latest` come before the id pattern (docs/wire-contract.md#http-conventions).
    urlpatterns += [
        path(f"v{_version}/model-bundles", _list.as_view()),
        path(f"v{_version}/model-bundles/clone-with-changes", _clone.as_view()),
        path(f"v{_version}/model-bundles/latest", _latest.as_view()),
        path(f"v{_version}/model-bundles/<str:model_bundle_id>", _detail.as_view()),
    ]
