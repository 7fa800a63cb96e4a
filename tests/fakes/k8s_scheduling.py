"""Which of the fake cluster's nodes a pod fits, as the scheduler decides it: nodeSelector,
required node affinity (In, NotIn, Exists, DoesNotExist, Gt, Lt) and NoSchedule/NoExecute taints
against tolerations. Resources are not counted. Used by the fake kubelet (tests/fakes/kubelet.py).

A node is `{"name": ..., "labels": {...}, "taints": [{"key", "value", "effect"}]}`.
"""


def _expression_matches(labels: dict, expression: dict) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels:
        number, bound = int(labels[key]), int(values[0])
        return number > bound if operator == "Gt" else number < bound
    return False


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint["effect"]:
            continue
        if toleration.get("operator") == "Exists" and (not toleration.get("key") or toleration["key"] == taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def unfit_reason(pod_spec: dict, node: dict) -> str | None:
    """None when the pod fits the node, else the scheduler's reason."""
    labels = node.get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return "didn't match Pod's node affinity/selector"
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(all(_expression_matches(labels, e) for e in term.get("matchExpressions") or [])
                         for term in terms):
        return "didn't match Pod's node affinity/selector"
    for taint in node.get("taints") or []:
        if taint["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(pod_spec.get("tolerations") or [], taint):
            return f"had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    return None


def schedule(pod_spec: dict, nodes: list[dict]) -> tuple[dict | None, str]:
    """(the first node the pod fits, "") or (None, the FailedScheduling message)."""
    reasons: dict[str, int] = {}
    for node in nodes:
        reason = unfit_reason(pod_spec, node)
        if reason is None:
            return node, ""
        reasons[reason] = reasons.get(reason, 0) + 1
    detail = ", ".join(f"{count} node(s) {reason}" for reason, count in sorted(reasons.items()))
    return None, f"0/{len(nodes)} nodes are available: {detail}."
