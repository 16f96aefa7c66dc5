"""The Date header's text is email.utils.formatdate's with usegmt, whatever the moment."""

from __future__ import annotations

from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st

from berth.runtime.http.messages import http_date


@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31T23:59:59Z
def test_http_date_is_imf_fixdate(seconds: int) -> None:
    assert http_date(seconds) == formatdate(seconds, usegmt=True)
