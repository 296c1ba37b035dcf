"""Open311 GeoReport v2 over the incidents (served at ``/open311/v2`` by
``api/routes/open311.py``): :mod:`~geo.open311.services` (categories as services and their
attributes), :mod:`~geo.open311.requests` (filing, reading and listing requests: the incidents'
own code path and views), :mod:`~geo.open311.formats` (JSON and XML answers; bodies parsed,
XML with defusedxml only), :mod:`~geo.open311.apps` (registered apps and their api keys)."""

from geo.open311.apps import AppCaller, add_app, authenticate_app, list_apps, revoke_app
from geo.open311.formats import FORMATS, ROOTS, errors, parse_body, to_xml
from geo.open311.requests import (
    check_jurisdiction,
    file_request,
    list_requests,
    post_jurisdiction,
    read_request,
    request_of_token,
)
from geo.open311.services import service_definition, service_list

__all__ = [
    "FORMATS",
    "ROOTS",
    "AppCaller",
    "add_app",
    "authenticate_app",
    "check_jurisdiction",
    "errors",
    "file_request",
    "list_apps",
    "list_requests",
    "parse_body",
    "post_jurisdiction",
    "read_request",
    "request_of_token",
    "revoke_app",
    "service_definition",
    "service_list",
    "to_xml",
]
