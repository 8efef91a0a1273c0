"""`{% campaign_receipts campaign groups as receipts %}`: what the campaign page needs to show
delivery receipts (INTERFACE §8) — each group gets `member_total` (its WhatsApp group's members,
or None) and `shows_receipts`; `receipts.member_total` is the members of the groups the message
reached, and `receipts.watching` says whether the page keeps polling for more."""

from __future__ import annotations

from typing import Any

from django import template

from campaigns_app import selectors
from campaigns_app.models import NotificationCampaign, NotificationCampaignGroup

register = template.Library()


@register.simple_tag
def campaign_receipts(campaign: NotificationCampaign, groups: list) -> dict[str, Any]:
    members = selectors.campaign_group_members(groups=groups)
    reached = 0
    for group in groups:
        group.member_total = members.get(group.id)
        # A failed group (refused, or a late WhatsApp error) reached no one: no "0 of 44
        # members" for it, and its members are not part of the campaign's "of K members".
        group.shows_receipts = bool(group.message_id) and (
            group.status == NotificationCampaignGroup.Status.SENT or group.delivered_count > 0
        )
        if group.shows_receipts:
            reached += group.member_total or 0
    return {
        "watching": selectors.campaign_watches_receipts(campaign=campaign, groups=groups),
        "member_total": reached,
    }
