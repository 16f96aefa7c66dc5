"""The TrustCheck aggregate: one decision of the trust policy about one image.

A check whose policy asked for more than `insecureAcceptAnything` is recorded, so that
`berth audit` shows which key let an image in (`PolicyChecked`), or why it was kept out
(`PolicyRefused`): a refusal is the only thing a refused pull or create records. Each
decision is its own short stream; its id comes from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause

T = "berth.trust"


class TrustCheck(StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class PolicyChecked(Event, CreatedEvent):
        """The image satisfied the policy; `key_id` names the key whose signature did."""

        TOPIC = f"{T}.PolicyChecked"
        reference: str
        digest: str
        stage: str  # "pull" or "create"
        policy: str
        key_id: str

        def apply(self, check: TrustCheck) -> None:
            check.reference, check.refused = self.reference, False

    @dataclass(frozen=True)
    class PolicyRefused(Event, CreatedEvent):
        TOPIC = f"{T}.PolicyRefused"
        reference: str
        digest: str
        stage: str
        policy: str
        reason: str

        def apply(self, check: TrustCheck) -> None:
            check.reference, check.refused = self.reference, True

    if TYPE_CHECKING:
        reference: str
        refused: bool

    @classmethod
    def checked(cls, id: str, cause: Cause, **fields: str) -> TrustCheck:
        """`PolicyChecked`: reference, digest, stage, policy, key_id."""
        check: TrustCheck = cls._start(id, cls.PolicyChecked, cause, **fields)
        return check

    @classmethod
    def refused_by(cls, id: str, cause: Cause, **fields: str) -> TrustCheck:
        """`PolicyRefused`: reference, digest, stage, policy, reason."""
        check: TrustCheck = cls._start(id, cls.PolicyRefused, cause, **fields)
        return check
