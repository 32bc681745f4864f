from __future__ import annotations

from django.db.models import Count, QuerySet

from accounts.models import User
from executions.models import Session, ToolExecution


def executions_visible_to(user: User) -> QuerySet[ToolExecution]:
    """Admins see every execution, users their own."""
    qs = ToolExecution.objects.select_related("user")
    return qs if user.is_hub_admin else qs.filter(user=user)


def sessions_visible_to(user: User) -> QuerySet[Session]:
    qs = Session.objects.select_related("user").annotate(execution_count=Count("executions"))
    return qs if user.is_hub_admin else qs.filter(user=user)
