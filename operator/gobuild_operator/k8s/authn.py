"""Who is asking for the metrics, and may they: TokenReview and SubjectAccessReview, the way the
API server's own aggregated servers (and kube-rbac-proxy) authenticate and authorize callers."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes_asyncio import client

from gobuild_operator.k8s.client import ApiClient


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


async def review_token(api: ApiClient, *, token: str) -> User | None:
    """The user a bearer token belongs to, or None when the API server does not accept it."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    review = await client.AuthenticationV1Api(api).create_token_review(body)  # type: ignore[arg-type]
    status = review.status
    if status is None or not status.authenticated or status.user is None:
        return None
    user = status.user
    return User(
        name=user.username or "",
        uid=user.uid or "",
        groups=tuple(user.groups or ()),
        extra={key: list(values) for key, values in (user.extra or {}).items()},
    )


async def may_get(api: ApiClient, *, user: User, path: str) -> bool:
    """Whether RBAC lets `user` GET the non-resource URL `path` (e.g. /metrics)."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user.name,
            "uid": user.uid,
            "groups": list(user.groups),
            "extra": user.extra,
            "nonResourceAttributes": {"path": path, "verb": "get"},
        },
    }
    review = await client.AuthorizationV1Api(api).create_subject_access_review(body)  # type: ignore[arg-type]
    return bool(review.status and review.status.allowed)
