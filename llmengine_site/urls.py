from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from llmengine_site import health, landing

urlpatterns = [
    path("", landing.landing, name="landing"),
    path("healthcheck", health.alive),
    path("healthz", health.alive),
    path("readyz", health.ready),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    path("admin", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("endpoints.inference.urls")),
    # jobs first: `POST /v1/llm/model-endpoints/download` must win over the endpoint-name route.
    path("", include("jobs.api.urls")),
    path("", include("endpoints.api.urls")),
]
