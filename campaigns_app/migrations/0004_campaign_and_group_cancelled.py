"""Cancelled is a state of campaigns and campaign groups (INTERFACE.md §3), not a failure.

Group rows cancelled before this change were stored as `failed` with the error "Cancelled"; their
queue row says `cancelled`. They become `cancelled`, and their campaigns are recounted with the
rule of `campaigns_app.services.campaigns.campaign_recount` (cancelled is neither sent nor failed;
a campaign that sent nothing and had groups cancelled is `cancelled`).
"""

from django.db import migrations, models
from django.db.models import Count, Q
from django.utils import timezone


def groups_cancelled_not_failed(apps, schema_editor):
    Group = apps.get_model("campaigns_app", "NotificationCampaignGroup")
    Campaign = apps.get_model("campaigns_app", "NotificationCampaign")
    wrongly_failed = Group.objects.filter(status="failed", scheduled_message__status="cancelled")
    campaign_ids = set(wrongly_failed.values_list("campaign_id", flat=True))
    wrongly_failed.update(status="cancelled")
    now = timezone.now()
    for campaign in Campaign.objects.filter(id__in=campaign_ids):
        counts = Group.objects.filter(campaign_id=campaign.id).aggregate(
            total=Count("id"),
            sent=Count("id", filter=Q(status="sent")),
            failed=Count("id", filter=Q(status="failed")),
            cancelled=Count("id", filter=Q(status="cancelled")),
        )
        total, sent, failed, cancelled = (
            counts["total"],
            counts["sent"],
            counts["failed"],
            counts["cancelled"],
        )
        if sent + failed + cancelled < total:
            status = "scheduled" if campaign.scheduled_for > now and not sent else "sending"
        elif sent == 0 and cancelled:
            status = "cancelled"
        elif failed == 0:
            status = "sent"
        elif sent == 0:
            status = "failed"
        else:
            status = "partial_failure"
        campaign.sent_count, campaign.failed_count, campaign.cancelled_count = sent, failed, cancelled
        campaign.status = status
        if status in ("sent", "partial_failure", "failed", "cancelled"):
            campaign.finished_at = campaign.finished_at or now
        campaign.save(
            update_fields=["sent_count", "failed_count", "cancelled_count", "status", "finished_at"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns_app", "0003_queue_session_unreachable_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="notificationcampaign",
            name="cancelled_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="notificationcampaign",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("scheduled", "Scheduled"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("partial_failure", "Partly failed"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="notificationcampaigngroup",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=20,
            ),
        ),
        migrations.RunPython(groups_cancelled_not_failed, migrations.RunPython.noop),
    ]
