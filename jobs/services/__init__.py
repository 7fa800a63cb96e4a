"""Writes of files, jobs, bundles and triggers, one module per concept
(docs/design.md#services-selectors-and-actors):
`files`, `runs` (the Kubernetes Job every kind of job becomes), `fine_tunes`,
`batch_completions`, `docker_jobs` (bundles and docker-image batch jobs) and `triggers`."""
