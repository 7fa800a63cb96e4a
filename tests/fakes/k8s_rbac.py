"""RBAC for the fake API server: requests made with a service account's token are authorized
against the stored Roles, ClusterRoles and their bindings, as the real API server does.

Tokens issued by `FakeKubernetesApi.issue_token(namespace, name)` belong to that service
account (the kubelet mounts one per pod); the server's own `token` stays an administrator's
(what helm and the tests use). Discovery (`/api`, `/apis`, `/version`, `/openapi`) is open to
every authenticated client. Aggregated ClusterRoles and non-resource URLs are not modelled.
"""
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def request_attributes(method: str, path: str, query: dict) -> dict | None:
    """verb, apiGroup, resource (with `/subresource`), namespace and name of a resource request;
    None for discovery."""
    parts = [part for part in path.split("/") if part]
    if parts and parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts and parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:  # a Namespace object itself
        rest = ["namespaces", rest[1]]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    verb = VERBS.get(method, method.lower())
    if method == "GET" and not name:
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "DELETE" and not name:
        verb = "deletecollection"
    return {"verb": verb, "group": group, "resource": resource, "namespace": namespace, "name": name}


def _rule_allows(rule: dict, request: dict) -> bool:
    def has(values, value):
        return "*" in (values or []) or value in (values or [])
    return (has(rule.get("apiGroups"), request["group"]) and has(rule.get("resources"), request["resource"])
            and has(rule.get("verbs"), request["verb"])
            and (not rule.get("resourceNames") or request["name"] in rule["resourceNames"]))


def _binds(binding: dict, account: tuple[str, str]) -> bool:
    namespace, name = account
    for subject in binding.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount" and subject.get("name") == name \
                and subject.get("namespace", binding["metadata"].get("namespace")) == namespace:
            return True
        if subject.get("kind") == "Group" and subject.get("name") in (
                "system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"):
            return True
    return False


def authorize(api, account: tuple[str, str], request: dict) -> str | None:
    """None when `account` may make `request`, else the API server's Forbidden message."""
    rules = []
    for binding in api.objects("ClusterRoleBinding"):
        if _binds(binding, account) and binding["roleRef"]["kind"] == "ClusterRole":
            role = api.get_object("ClusterRole", None, binding["roleRef"]["name"])
            rules += (role or {}).get("rules") or []
    if request["namespace"]:
        for binding in api.objects("RoleBinding", request["namespace"]):
            if not _binds(binding, account):
                continue
            ref = binding["roleRef"]
            role = (api.get_object("Role", request["namespace"], ref["name"]) if ref["kind"] == "Role"
                    else api.get_object("ClusterRole", None, ref["name"]))
            rules += (role or {}).get("rules") or []
    if any(_rule_allows(rule, request) for rule in rules):
        return None
    user = f"system:serviceaccount:{account[0]}:{account[1]}"
    resource = request["resource"].split("/")[0]
    subresource = request["resource"].partition("/")[2]
    target = f'{resource}{"/" + subresource if subresource else ""}'
    group = f' in API group "{request["group"]}"'
    where = f' in the namespace "{request["namespace"]}"' if request["namespace"] else " at the cluster scope"
    named = f' "{request["name"]}"' if request["name"] else ""
    return f'{target}{named} is forbidden: User "{user}" cannot {request["verb"]} resource "{target}"{group}{where}'
