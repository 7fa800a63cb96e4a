# The one LLM Engine image. Every process is a command of it (see chart/templates):
#   gateway           gunicorn llmengine_site.asgi:application -k uvicorn_worker.UvicornWorker -b 0.0.0.0:5000 ...
#   endpoint builder  python manage.py rundramatiq --processes 1 --threads 4
#   cacher            python manage.py run_cacher
#   migrations        python manage.py migrate --noinput
#   forwarder         python -m endpoints.forwarder ...   (sidecar in endpoint pods)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles \
    LLME_VAR_DIR=/tmp/llm-engine \
    HOME=/tmp

WORKDIR /app

# Dependencies first so code changes do not reinstall them (all of them ship wheels: no compiler).
COPY requirements.txt ./
# --no-compile: no bytecode baked in (about a quarter of the image); PYTHONDONTWRITEBYTECODE
# keeps the build steps below from writing any either.
RUN pip install -r requirements.txt --no-compile

COPY . .

# Static files (admin, operator pages) are collected at build time: pods run with a read-only
# root filesystem, and whitenoise serves them from STATIC_ROOT.
# Nothing of the build is left in /tmp (LLME_VAR_DIR): pods mount an empty one there.
RUN python manage.py collectstatic --noinput \
    && rm -rf /tmp/llm-engine \
    && groupadd --gid 10001 llmengine \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin llmengine

# Numeric user so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

EXPOSE 5000
CMD ["gunicorn", "llmengine_site.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-b", "0.0.0.0:5000", "--workers", "2", "--timeout", "120"]
