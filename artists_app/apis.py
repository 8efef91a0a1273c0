"""JSON API for artists, the phone lookup and the member sync (INTERFACE.md §6), and the
group-participants webhook that keeps the member cache live (§9)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from artists_app import selectors, services
from artists_app.member_events import ACTIONS, members_apply_participant_event
from artists_app.models import Artist
from sessions_app.models import WhatsAppSession
from whatsapp_crm.api import OrganizationAPIView, OrganizationListAPIView
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.webhooks import WebhookRejected, WebhookResult, WebhookView

ARTIST_FIELDS = [
    "id",
    "name",
    "whatsapp_group_id",
    "whatsapp_group_name",
    "member_count",
    "member_sync_status",
    "member_sync_error",
    "last_member_sync_at",
    "member_sync_attempted_at",
    "created_at",
    "updated_at",
]


class ArtistOutputSerializer(serializers.ModelSerializer):
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = Artist
        fields = ARTIST_FIELDS
        read_only_fields = ARTIST_FIELDS
        ref_name = "Artist"

    def get_member_count(self, obj: Artist) -> int:
        count = getattr(obj, "member_count", None)
        return count if count is not None else obj.group_members.count()


def _artist_or_404(view: OrganizationAPIView, pk: UUID) -> Artist:
    artist = selectors.artist_get(organization=view.organization, artist_id=pk)
    if artist is None:
        raise Http404("No such artist.")
    return artist


class ArtistListApi(OrganizationListAPIView):
    """GET /api/artists/ — the organization's artists with their sync state."""

    @extend_schema(responses=ArtistOutputSerializer(many=True), operation_id="artists_list")
    def get(self, request: Request) -> Response:
        return self.page(
            selectors.artist_list(organization=self.organization), ArtistOutputSerializer
        )


class ArtistCreateApi(OrganizationAPIView):
    required_role = "admin"
    """POST /api/artists/ — with a group id, the group's member sync is queued after commit."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=services.ARTIST_NAME_MAX_LENGTH)
        whatsapp_group_id = serializers.CharField(
            max_length=services.GROUP_ID_INPUT_MAX_LENGTH,
            required=False,
            allow_blank=True,
            default="",
        )

        class Meta:
            ref_name = "ArtistCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={201: ArtistOutputSerializer},
        operation_id="artists_create",
    )
    def post(self, request: Request) -> Response:
        serializer = ArtistCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artist = services.artist_create(organization=self.organization, **serializer.validated_data)
        return Response(ArtistOutputSerializer(artist).data, status=201)


class ArtistCollectionApi(ArtistListApi, ArtistCreateApi):
    """/api/artists/: GET lists, POST creates."""

    required_role = {"POST": "admin"}


class ArtistDetailApi(OrganizationAPIView):
    """GET / PATCH /api/artists/{id}/ — a changed group id queues a member sync after commit."""

    required_role = {"PATCH": "admin"}

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=services.ARTIST_NAME_MAX_LENGTH, required=False)
        whatsapp_group_id = serializers.CharField(
            max_length=services.GROUP_ID_INPUT_MAX_LENGTH, required=False, allow_blank=True
        )

        class Meta:
            ref_name = "ArtistUpdateInput"

    @extend_schema(responses=ArtistOutputSerializer, operation_id="artists_retrieve")
    def get(self, request: Request, pk: UUID) -> Response:
        return Response(ArtistOutputSerializer(_artist_or_404(self, pk)).data)

    @extend_schema(
        request=InputSerializer, responses=ArtistOutputSerializer, operation_id="artists_update"
    )
    def patch(self, request: Request, pk: UUID) -> Response:
        artist = _artist_or_404(self, pk)
        serializer = ArtistDetailApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artist = services.artist_update(artist=artist, **serializer.validated_data)
        return Response(ArtistOutputSerializer(artist).data)


class ArtistLookupApi(OrganizationAPIView):
    """POST /api/lookup-whatsapp-groups/ — which artists' groups have this phone number?

    Any spelling works ("+49 151 2345 6789", "0151 23456789", "49-151-…"). Answers from the
    member cache in one indexed query; WHAPI is never called.
    """

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=64, trim_whitespace=True)

        class Meta:
            ref_name = "ArtistLookupInput"

    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField()
        phone = serializers.CharField(help_text="The number as looked up: international digits.")
        artists = inline_serializer(
            "ArtistLookupMatch",
            {
                "id": serializers.UUIDField(),
                "name": serializers.CharField(),
                "whatsapp_group_id": serializers.CharField(),
                "whatsapp_group_name": serializers.CharField(),
                "member_rank": serializers.ChoiceField(choices=["creator", "admin", "member"]),
            },
            many=True,
        )
        count = serializers.IntegerField()
        cached = serializers.BooleanField()

        class Meta:
            ref_name = "ArtistLookupResult"

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="Not a phone number")},
        operation_id="artists_lookup_by_phone",
    )
    def post(self, request: Request) -> Response:
        serializer = ArtistLookupApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = selectors.artist_lookup_by_phone(
            organization=self.organization, phone=serializer.validated_data["phone"]
        )
        return Response(
            {
                "success": True,
                "phone": result.phone,
                "artists": [match.as_dict() for match in result.matches],
                "count": len(result.matches),
                "cached": True,
            }
        )


class GroupMembersSyncApi(OrganizationAPIView):
    """POST /api/sync-whatsapp-group-members/ — queue a member sync of one artist or all.

    202 with the task id; follow its progress at status_url (GET /api/tasks/{id}/).
    """

    required_role = "admin"

    class InputSerializer(serializers.Serializer):
        artist_id = serializers.UUIDField(required=False, allow_null=True)

        class Meta:
            ref_name = "GroupMembersSyncInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "GroupMembersSyncQueued",
                {
                    "success": serializers.BooleanField(),
                    "task_id": serializers.UUIDField(),
                    "status_url": serializers.CharField(),
                },
            )
        },
        operation_id="artists_sync_members",
    )
    def post(self, request: Request) -> Response:
        serializer = GroupMembersSyncApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artist_id = serializer.validated_data.get("artist_id")
        artist = _artist_or_404(self, artist_id) if artist_id else None
        run = services.group_members_sync_start(organization=self.organization, artist=artist)
        status_url = request.build_absolute_uri(
            reverse("api-task-detail", kwargs={"task_id": run.pk})
        )
        return Response(
            {"success": True, "task_id": str(run.pk), "status_url": status_url}, status=202
        )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": '"<digits>" or "<id>@lid"'},
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "phone": {"type": "string"}},
                "required": ["id"],
            },
        ]
    }
)
class ParticipantField(serializers.Field):
    """A participant id, or {"id", "phone"} when the gateway knows a privacy id's number."""

    default_error_messages = {
        "invalid": 'A participant id (text, at most 100 characters) or {{"id", "phone"}} expected.'
    }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and 0 < len(data.strip()) <= 100:
            return data.strip()
        if isinstance(data, dict) and set(data) <= {"id", "phone"}:
            pid, phone = data.get("id"), data.get("phone")
            good_id = isinstance(pid, str) and 0 < len(pid.strip()) <= 100
            good_phone = phone is None or (isinstance(phone, str) and len(phone) <= 64)
            if good_id and good_phone:
                return {"id": pid.strip(), "phone": phone}
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class GroupParticipantsWebhookApi(WebhookView):
    """`POST /api/webhooks/whatsapp/group-participants/`: someone joined, left, was promoted or
    demoted in a group; the member cache of every artist with that group follows (§9)."""

    source = "group_participants"

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["group_participants"], required=False)
        sessionId = serializers.CharField(max_length=100)
        groupJid = serializers.CharField(max_length=100)
        action = serializers.ChoiceField(choices=list(ACTIONS))
        participants = serializers.ListField(
            child=ParticipantField(), allow_empty=False, max_length=1024
        )
        id = serializers.CharField(max_length=200, required=False, allow_null=True)

        class Meta:
            ref_name = "GroupParticipantsWebhookInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "GroupParticipantsWebhookAnswer",
                {
                    "success": serializers.BooleanField(),
                    "artists": serializers.IntegerField(),
                    "added": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "removed": serializers.IntegerField(),
                    "duplicate": serializers.BooleanField(required=False),
                },
            ),
            404: OpenApiResponse(description="Unknown session"),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        session = (
            WhatsAppSession.objects.filter(session_id=data["sessionId"])
            .only("id", "organization_id")
            .first()
        )
        if session is None:
            raise WebhookRejected(404, "Unknown session", {"sessionId": data["sessionId"]})
        return participants_apply(
            session,
            group_jid=data["groupJid"],
            action=data["action"],
            participants=data["participants"],
        )


def participants_apply(
    session: WhatsAppSession, *, group_jid: str, action: str, participants: list[Any]
) -> WebhookResult:
    """A group-participants event of `session` applied to the member cache, and the webhook's
    answer (our protocol and the WAHA / Evolution receivers)."""
    outcome = members_apply_participant_event(
        session=session, group_jid=group_jid, action=action, participants=participants
    )
    return WebhookResult(
        200,
        {
            "success": True,
            "artists": outcome.artists,
            "added": outcome.added,
            "updated": outcome.updated,
            "removed": outcome.removed,
        },
        detail=f"{action} in {group_jid}: {outcome.detail}",
        reference=group_jid[:200],
    )
