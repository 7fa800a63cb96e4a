"""The only fakes of the project: stand-ins for the outermost boundaries (Kubernetes API,
model servers). Fixture modules named `*_fixtures.py` here are loaded by tests/conftest.py."""
