"""The endpoint sidecar (`python -m endpoints.forwarder`), the `http-forwarder` container of
every endpoint pod.

- `--mode http`: relays the gateway's sync and streaming requests to the model server on
  localhost (`http_proxy`), ready only while the model answers its health route, 429 above
  its concurrency limit.
- `--mode queue`: consumes the endpoint's task queue and stores results (`queue_worker`,
  `endpoints.task_results`).

It never touches the database: everything comes from its command line, its environment and
the endpoint-config file the builder mounts (`config`).
"""
