from django.core.signals import request_finished, request_started

from masakari_site.after_response import after_response


def test_outside_a_request_work_runs_at_once():
    done = []
    after_response(lambda: done.append("now"))
    assert done == ["now"]


def test_in_a_request_work_waits_until_the_response_is_sent():
    done = []
    request_started.send(sender=None)
    after_response(lambda: done.append("first"))
    after_response(lambda: 1 / 0)  # logged; the rest still runs
    after_response(lambda: done.append("second"))
    assert done == []
    request_finished.send(sender=None)
    assert done == ["first", "second"]
    after_response(lambda: done.append("after"))
    assert done == ["first", "second", "after"]
