"""The plant file's `notifications:` section: people, rosters, pipelines, channels, flood and delivery rules."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$", max_length=64)]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Target = Annotated[str, Field(pattern=r"^(rotation|person|group):[A-Za-z][A-Za-z0-9_.\-]*$")]
"""Whom to page: rotation:<name> (whoever is on call then), person:<name> or group:<name>."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    APPRISE = "apprise"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class PersonConfig(_Strict):
    """Someone who can be paged, with an address per channel; `user` links the API user who acknowledges."""

    name: Name
    user: str | None = Field(default=None, description="the API user name this person logs in as")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: str | None = Field(default=None, pattern=r"^https?://", description="URL receiving signed JSON")
    apprise: list[str] = Field(default_factory=list, description="apprise URLs (ntfy://, tgram://, …)")

    def addresses(self) -> dict[ChannelKind, list[str]]:
        out: dict[ChannelKind, list[str]] = {}
        if self.email:
            out[ChannelKind.EMAIL] = [self.email]
        if self.webhook:
            out[ChannelKind.WEBHOOK] = [self.webhook]
        if self.apprise:
            out[ChannelKind.APPRISE] = list(self.apprise)
        return out


class RotationConfig(_Strict):
    """A weekly (or n-day) rotation: people take turns, handing over at a local weekday and time."""

    name: Name
    people: list[Name] = Field(min_length=1)
    start: date = Field(description="a date (on the handover weekday) when the first person starts")
    handover_time: time = time(8, 0)
    period_days: int = Field(default=7, ge=1, le=56)


class OverrideConfig(_Strict):
    """A holiday or a swap: `person` is on call for `rotation` from start to end (plant local time)."""

    rotation: Name
    person: Name
    start: datetime
    end: datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> OverrideConfig:
        if not self.start < self.end:
            raise ValueError(f"override of {self.rotation}: start {self.start} is not before end {self.end}")
        return self


class StepConfig(_Strict):
    """One escalation step: whom to page (rotation:X, person:X, group:X), then how long to wait for an ack."""

    notify: list[Target] = Field(min_length=1)
    via: list[ChannelKind] = Field(default_factory=lambda: list(ChannelKind), min_length=1)
    wait_s: float = Field(default=600.0, gt=0, le=86400)


class PipelineConfig(_Strict):
    """Alarms of these priorities (and alarm-name patterns, for areas) escalate through these steps."""

    name: Name
    priorities: list[Annotated[int, Field(ge=1, le=4)]] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1)
    alarms: list[str] = Field(default_factory=lambda: ["*"], description="fnmatch patterns of alarm names")
    steps: list[StepConfig] = Field(min_length=1)
    notify_return_to_normal: bool = False


class EmailConfig(_Strict):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = Field(default=None, description="environment variable holding the password")
    ca_file: str | None = Field(default=None, description="CA bundle for a private mail server's certificate")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class WebhookConfig(_Strict):
    secret_env: EnvVarName = Field(description="environment variable holding the HMAC-SHA256 key")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class ChannelsConfig(_Strict):
    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None


class FloodConfig(_Strict):
    """A recipient's alarms are gathered for gather_s; more than `threshold` at once is a flood: one digest."""

    gather_s: float = Field(default=1.0, gt=0, le=60)
    threshold: int = Field(default=8, ge=1)
    hold_s: float = Field(default=300.0, gt=0, le=86400, description="after a digest, the next one at the earliest")


class RateLimitConfig(_Strict):
    messages: int = Field(default=40, ge=1)
    per_s: float = Field(default=3600.0, gt=0)


class QuietHoursConfig(_Strict):
    """Between start and end (local), alarms of these priorities wait until the quiet hours end."""

    start: time = time(22, 0)
    end: time = time(6, 0)
    priorities: list[Annotated[int, Field(ge=1, le=4)]] = Field(default_factory=lambda: [4])


class DeliveryConfig(_Strict):
    retry_base_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=120.0, gt=0)
    escalate_after_s: float = Field(default=120.0, gt=0, description="undelivered this long: page the next step now")
    expire_s: float = Field(default=86400.0, gt=0, description="undelivered this long: given up (logged, counted)")


class AckLinkConfig(_Strict):
    ttl_s: float = Field(default=4 * 3600.0, gt=0, le=7 * 86400)
    require_login: bool = Field(default=False, description="the link opens the panel: log in, then confirm")


class HeartbeatConfig(_Strict):
    """The dead man's switch: an outgoing request every period_s; an external monitor pages when they stop."""

    url: str = Field(pattern=r"^https?://")
    period_s: float = Field(default=60.0, ge=1, le=86400)
    method: str = Field(default="GET", pattern=r"^(GET|POST|HEAD)$")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class TestMessageConfig(_Strict):
    """A daily test message through every channel of these people, at a local time."""

    at: time = time(9, 0)
    people: list[Name] = Field(min_length=1)


class NotificationsConfig(_Strict):
    timezone: str = "UTC"
    public_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://",
                            description="how recipients reach the panel: the base of ack links")
    people: list[PersonConfig] = Field(default_factory=list)
    groups: dict[Name, list[Name]] = Field(default_factory=dict)
    rotations: list[RotationConfig] = Field(default_factory=list)
    overrides: list[OverrideConfig] = Field(default_factory=list)
    pipelines: list[PipelineConfig] = Field(default_factory=list)
    channels: ChannelsConfig = ChannelsConfig()
    flood: FloodConfig = FloodConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    quiet_hours: QuietHoursConfig | None = None
    delivery: DeliveryConfig = DeliveryConfig()
    ack_link: AckLinkConfig = AckLinkConfig()
    heartbeat: HeartbeatConfig | None = None
    test_message: TestMessageConfig | None = None
    channel_failure_notify: list[Target] = Field(
        default_factory=list, description="who is told a channel is failing (default: every pipeline's targets)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Berlin)") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def person(self, name: str) -> PersonConfig:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    @model_validator(mode="after")
    def _references(self) -> NotificationsConfig:
        """Every name a rotation, group, override or step uses must be defined: a typo must not page nobody."""
        people = {p.name for p in self.people}
        if len(people) != len(self.people):
            raise ValueError("two people share a name")
        rotations = {r.name for r in self.rotations}
        for r in self.rotations:
            for n in r.people:
                if n not in people:
                    raise ValueError(f"rotation {r.name}: no person named {n!r}")
        for g, members in self.groups.items():
            for n in members:
                if n not in people:
                    raise ValueError(f"group {g}: no person named {n!r}")
        for o in self.overrides:
            if o.rotation not in rotations:
                raise ValueError(f"override: no rotation named {o.rotation!r}")
            if o.person not in people:
                raise ValueError(f"override of {o.rotation}: no person named {o.person!r}")
        known = {"rotation": rotations, "person": people, "group": set(self.groups)}
        for pl in self.pipelines:
            if pl.name.upper().startswith("SYS."):
                raise ValueError(f"pipeline {pl.name}: names beginning SYS. are the service's own (the channel "
                                 "alarms' pipeline); choose another name")
            for i, step in enumerate(pl.steps, 1):
                for target in step.notify:
                    kind, name = target.split(":", 1)
                    if name not in known[kind]:
                        raise ValueError(f"pipeline {pl.name} step {i}: no {kind} named {name!r}")
        for target in self.channel_failure_notify:
            kind, name = target.split(":", 1)
            if name not in known[kind]:
                raise ValueError(f"channel_failure_notify: no {kind} named {name!r}")
        if self.test_message is not None:
            for n in self.test_message.people:
                if n not in people:
                    raise ValueError(f"test_message: no person named {n!r}")
        for p in self.people:
            if p.email and self.channels.email is None:
                raise ValueError(f"person {p.name} has an email address but channels.email is not configured")
            if p.webhook and self.channels.webhook is None:
                raise ValueError(f"person {p.name} has a webhook but channels.webhook (its signing key) is not set")
        return self
