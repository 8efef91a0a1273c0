from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    """Names nested serializers after their view ("SessionVerifyApiOutput"), so that the many
    `InputSerializer`/`OutputSerializer` classes (one APIView per operation) never collide."""

    def get_serializer_name(self, serializer, direction) -> str:
        return type(serializer).__qualname__.replace(".", "")
