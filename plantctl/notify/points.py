"""The notifier's system points: one per channel in use, 1 while it fails, with an alarm that tells the operator why.

A channel that cannot deliver leaves the on-call unreachable by it; that is an ISA-18.2 alarm like any other
(acknowledged, shelved, journalled, shown in the panel), paged through the other channels (service.py).
"""

from __future__ import annotations

from plantctl.config.models import AlarmConfig, AlarmType, PlantConfig
from plantctl.config.notifications import ChannelKind, NotificationsConfig
from plantctl.points import SystemPoints, system_tag

SUBSYSTEM = "notify"
PRIORITY = 2  # high: the plant's alarms may reach nobody on call


def point_name(channel: ChannelKind) -> str:
    """`SYS.NOTIFY.EMAIL`: 1 while the channel's last delivery attempt failed, 0 once a message goes through."""
    return f"SYS.NOTIFY.{channel.value.upper()}"


def alarm_name(channel: ChannelKind) -> str:
    return f"{point_name(channel)}.FAILING"


def channels_in_use(cfg: NotificationsConfig) -> list[ChannelKind]:
    """The channels anyone can be paged by: email and webhook when configured, apprise when someone has a URL."""
    out = []
    if cfg.channels.email is not None:
        out.append(ChannelKind.EMAIL)
    if cfg.channels.webhook is not None:
        out.append(ChannelKind.WEBHOOK)
    if any(p.apprise for p in cfg.people):
        out.append(ChannelKind.APPRISE)
    return out


def _what_to_check(cfg: NotificationsConfig, channel: ChannelKind) -> str:
    if channel is ChannelKind.EMAIL and cfg.channels.email is not None:
        e = cfg.channels.email
        creds = f", the credentials in {e.username_env}/{e.password_env}" if e.password_env else ""
        return f"check the mail server {e.host}:{e.port}{creds} and the network to it"
    if channel is ChannelKind.WEBHOOK:
        return "check the receiving service, its address and the signing key (secret_env)"
    return "check the chat/push/SMS gateway, its account and the internet link"


def _alarm(cfg: NotificationsConfig, channel: ChannelKind) -> AlarmConfig:
    return AlarmConfig(
        name=alarm_name(channel), tag=point_name(channel), type=AlarmType.DISCRETE, limit=1.0, priority=PRIORITY,
        on_delay_s=cfg.delivery.escalate_after_s,  # as long as a page waits before it escalates past its person
        message=f"{channel.value} notifications failing: the on-call will not be reached by {channel.value}; "
                f"{_what_to_check(cfg, channel)}. The last error is on the On call page; pages go by the other "
                "channels meanwhile")


def declare(plant: PlantConfig) -> SystemPoints:
    """One point and one alarm per channel in use; none without a `notifications:` section."""
    return SystemPoints() if plant.notifications is None else channel_points(plant.notifications)


def channel_points(cfg: NotificationsConfig) -> SystemPoints:
    """The points and alarms of these channels (the notifier publishes them)."""
    channels = channels_in_use(cfg)
    tags = tuple(system_tag(SUBSYSTEM, channel.value.upper(), unit="bool", low=0, high=1,
                            description=f"{channel.value} notification channel failing (1) or delivering (0)")
                 for channel in channels)
    return SystemPoints(tags, tuple(_alarm(cfg, channel) for channel in channels))
