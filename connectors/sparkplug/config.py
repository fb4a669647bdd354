"""The sparkplug protocol's part of the plant file: a central primary host's `sources:` entry and its checks."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from plantctl.config.models import EnvVarName, SourceConfigBase, TagAddress
from plantctl.config.protocols import CheckedPlant, ProtocolSchema
from plantctl.config.uplink import SparkplugId, check_broker_urls
from plantctl.config.yamlsrc import ConfigIssue


class SparkplugSourceConfig(SourceConfigBase):
    """This service as the fleet's primary host: its tags are the sites' tags, discovered from their births."""

    kind: Literal["sparkplug"] = "sparkplug"
    host_id: SparkplugId = Field(description="the primary host id the sites' uplink: names as primary_host_id")
    groups: list[SparkplugId] = Field(min_length=1, description="Sparkplug groups to subscribe to")
    brokers: list[str] = Field(min_length=1, description="mqtt://host:port, tried in turn")
    allow: list[str] = Field(default_factory=lambda: ["*"],
                             description="fnmatch patterns of <group>/<node>/<tag> to keep")
    deny: list[str] = Field(default_factory=list, description="fnmatch patterns to drop, after allow")
    keepalive_s: int = Field(default=10, ge=2, le=600)
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None

    @field_validator("brokers")
    @classmethod
    def _plain_mqtt(cls, urls: list[str]) -> list[str]:
        check_broker_urls(urls)
        if any(u.startswith("mqtts:") for u in urls):
            raise ValueError("the central host speaks mqtt:// only so far (TLS is the edge's alone); "
                             "terminate TLS in front of it or use a loopback/private broker link")
        return urls

    @field_validator("heartbeat_tag")
    @classmethod
    def _no_heartbeat(cls, tag: str | None) -> str | None:
        if tag is not None:
            raise ValueError("a sparkplug source writes nothing to the sites, so it has no heartbeat tag")
        return tag


class SparkplugAddress(TagAddress):
    """Where a discovered tag comes from: metric `metric` of edge node `node` in group `group`."""

    kind: ClassVar[str] = "sparkplug"
    group: SparkplugId
    node: SparkplugId
    metric: str = Field(min_length=1)


def check_no_listed_tags(plant: CheckedPlant) -> list[ConfigIssue]:
    """A sparkplug source's tags come from the births; a hand-written one would shadow or contradict a site's."""
    return [plant.issue(tag.name, ("source",),
                        f"tag {tag.name!r} names sparkplug source {src.name!r}, whose tags are discovered from "
                        "the sites' births as <group>/<node>/<tag>; list none under tags: (filter with allow:/deny:)")
            for tag, src in plant.tags_of_kind("sparkplug")]


SCHEMA = ProtocolSchema("sparkplug", SparkplugSourceConfig, SparkplugAddress, (check_no_listed_tags,),
                        discovers_tags=True)
"""The sparkplug part of the plant file, as the loader asks for it."""
