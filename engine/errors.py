"""One exception type for every mistake a user can make.

The CLI prints ``str(error)`` on one line and exits with code 2; the app shows it with
``st.error``. Library code raises it for bad input (a wrong condition, an empty night range,
an unknown topic, a broker that is down, a full disk) instead of letting a traceback escape.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; its message is one line, without a traceback."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class BrokerUnavailable(UserError):
    """The Kafka bootstrap servers did not answer."""


class UnknownTopic(UserError):
    """The topic does not exist on the broker (expired, mistyped, or never created)."""
