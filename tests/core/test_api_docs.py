"""/api/docs/ serves Swagger UI from the installed package (drf-spectacular-sidecar): no CDN,
and no inline script (it works under the Content-Security-Policy)."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders


def test_the_docs_page_loads_swagger_ui_from_our_static_files(logged_in_client):
    html = logged_in_client.get("/api/docs/").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle" in a for a in assets)
    for asset in assets:
        if asset.startswith("/api/docs/?script"):
            # The init script is served separately (no inline script: the CSP forbids it).
            script = logged_in_client.get(asset)
            assert script.status_code == 200
            assert "cdn" not in script.content.decode().lower()
            continue
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/").split("?")[0]), asset
    assert "cdn" not in html.lower()
    assert "<script>" not in html
