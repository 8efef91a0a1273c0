"""`{% campaign_receipts campaign groups as receipts %}`: what the campaign page needs to show
delivery receipts (INTERFACE §8) — each group gets `member_total` (its WhatsApp group's members,
or None), and `receipts.watching` says whether the page keeps polling for more."""

from __future__ import annotations

from typing import Any

from django import template

from campaigns_app import selectors
from campaigns_app.models import NotificationCampaign

register = template.Library()


@register.simple_tag
def campaign_receipts(campaign: NotificationCampaign, groups: list) -> dict[str, Any]:
    members = selectors.campaign_group_members(groups=groups)
    for group in groups:
        group.member_total = members.get(group.id)
    return {
        "watching": selectors.campaign_watches_receipts(campaign=campaign, groups=groups),
        "member_total": sum(members.values()),
    }
