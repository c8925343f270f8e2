"""Tasks that share a job share its retry policy (config/task_policies.py), as Celery sees it."""

from __future__ import annotations

import smtplib

from accounts.tasks import email_send_task
from analytics.tasks import course_members_recount_task, course_members_refresh_task
from billing.tasks import past_due_email_task


def _policy(task: object) -> dict[str, object]:
    names = ("autoretry_for", "retry_backoff", "retry_backoff_max", "retry_jitter", "max_retries", "acks_late")
    return {name: getattr(task, name, None) for name in names}


def test_every_email_task_retries_smtp_trouble_for_about_an_hour_the_same_way():
    assert _policy(past_due_email_task) == _policy(email_send_task)
    assert set(email_send_task.autoretry_for) == {smtplib.SMTPException, OSError}
    assert (email_send_task.max_retries, email_send_task.retry_backoff_max) == (10, 600)


def test_the_students_report_tasks_are_acked_late_and_only_the_member_refresh_never_gives_up():
    recount, refresh = _policy(course_members_recount_task), _policy(course_members_refresh_task)

    assert recount["acks_late"] is refresh["acks_late"] is True
    assert (recount["max_retries"], refresh["max_retries"]) == (10, None)
    assert {k: v for k, v in recount.items() if k != "max_retries"} == {
        k: v for k, v in refresh.items() if k != "max_retries"
    }
