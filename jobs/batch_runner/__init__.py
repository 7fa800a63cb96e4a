"""The batch-completion runner: the main container of a batch completion's pod.

The pod runs the stock vLLM OpenAI server as a native sidecar and this runner beside it
(`python -m jobs.batch_runner`); the Job completes when the runner exits. See docs/jobs.md
("How a batch completion runs").

The runner never touches the control plane: no database, no Redis, no Kubernetes API. It reads
its config file (the job's config Secret), the input (inline content or a stored JSON file), talks
to the model server on localhost, and writes to object storage (or a local directory):

- `<state>/parts/<worker>-<run>-<n>.jsonl` — checkpoints: one line per finished prompt
  (`{"i": index, "o": output or null, "e": error or null}`); a restarted pod skips them;
- `<state>/progress/<worker>.json` — `{"total", "num_completed", "num_failed", "done", ...}`,
  what the reconciler copies onto the job row;
- `<output_data_path>` — the JSON array of outputs in input order (null for a failed prompt),
  and `<output_data_path>.errors.json` — `[{"index", "error"}]` for the failed prompts.

Importing this package needs no Django settings.
"""
