"""What the API views of both apps share: request fields, body parsing and ordering
(docs/design.md#layers-and-dependencies). No app's `api` package imports another's."""
