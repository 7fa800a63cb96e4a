"""The API helpers both apps share live in llmengine_site/api (docs/design.md#layers-and-dependencies):
no app imports another app's `api` package, and the shared `order_by` parameter answers both
apps' routes by one rule."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("endpoints", "jobs")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_app_imports_another_apps_api_package():
    crossing = []
    for app in APPS:
        others = [f"{other}.api" for other in APPS if other != app]
        for path in sorted((ROOT / app).rglob("*.py")):
            for module in imported_modules(path):
                if any(module == other or module.startswith(other + ".") for other in others):
                    crossing.append(f"{path.relative_to(ROOT)} imports {module}")
    assert crossing == []


def test_order_by_names_the_parameter_and_the_orderings_each_route_offers(api):
    owner = api.as_user("test-user-id")
    response = owner.get("/v1/model-bundles?order_by=largest")
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "order_by"], "msg": "must be newest, oldest or alphabetical",
                                          "type": "value_error.invalid"}]
    response = owner.get("/v1/docker-image-batch-job-bundles?order_by=alphabetical")
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "must be newest or oldest"
    assert owner.get("/v1/docker-image-batch-job-bundles?order_by=oldest").status_code == 200
    assert owner.get("/v1/model-bundles?order_by=alphabetical").status_code == 200
