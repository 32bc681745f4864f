"""The add-in's manifest and task pane pages."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

NS = "http://schemas.microsoft.com/office/appforoffice/1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# The part of the Office add-in manifest schema (OfficeApp 1.1) that a Word task pane
# manifest without VersionOverrides uses: element order, cardinality and value types.
TASKPANE_SCHEMA = f"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:o="{NS}" targetNamespace="{NS}"
           elementFormDefault="qualified">
  <xs:simpleType name="UUID"><xs:restriction base="xs:string">
    <xs:pattern value="[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}"/>
  </xs:restriction></xs:simpleType>
  <xs:simpleType name="Version"><xs:restriction base="xs:string">
    <xs:pattern value="[0-9]{{1,5}}(\\.[0-9]{{1,5}}){{0,3}}"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="URL"><xs:restriction base="xs:anyURI"><xs:pattern value="https?://.+"/></xs:restriction></xs:simpleType>
  <xs:complexType name="ShortString"><xs:attribute name="DefaultValue" use="required">
    <xs:simpleType><xs:restriction base="xs:string"><xs:minLength value="1"/><xs:maxLength value="125"/>
    </xs:restriction></xs:simpleType>
  </xs:attribute></xs:complexType>
  <xs:complexType name="LongString"><xs:attribute name="DefaultValue" use="required">
    <xs:simpleType><xs:restriction base="xs:string"><xs:minLength value="1"/><xs:maxLength value="250"/>
    </xs:restriction></xs:simpleType>
  </xs:attribute></xs:complexType>
  <xs:complexType name="Url"><xs:attribute name="DefaultValue" type="o:URL" use="required"/></xs:complexType>
  <xs:complexType name="OfficeApp"><xs:sequence>
    <xs:element name="Id" type="o:UUID"/>
    <xs:element name="Version" type="o:Version"/>
    <xs:element name="ProviderName" type="xs:string"/>
    <xs:element name="DefaultLocale" type="xs:string"/>
    <xs:element name="DisplayName" type="o:ShortString"/>
    <xs:element name="Description" type="o:LongString"/>
    <xs:element name="IconUrl" type="o:Url" minOccurs="0"/>
    <xs:element name="HighResolutionIconUrl" type="o:Url" minOccurs="0"/>
    <xs:element name="SupportUrl" type="o:Url" minOccurs="0"/>
    <xs:element name="AppDomains" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="AppDomain" type="o:URL" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="Hosts"><xs:complexType><xs:sequence>
      <xs:element name="Host" maxOccurs="unbounded"><xs:complexType>
        <xs:attribute name="Name" use="required"><xs:simpleType><xs:restriction base="xs:string">
          <xs:enumeration value="Document"/><xs:enumeration value="Workbook"/><xs:enumeration value="Presentation"/>
        </xs:restriction></xs:simpleType></xs:attribute></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="Requirements" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:element name="Sets"><xs:complexType><xs:sequence>
        <xs:element name="Set" maxOccurs="unbounded"><xs:complexType>
          <xs:attribute name="Name" type="xs:string" use="required"/>
          <xs:attribute name="MinVersion" type="o:Version"/></xs:complexType></xs:element>
      </xs:sequence><xs:attribute name="DefaultMinVersion" type="o:Version"/></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="DefaultSettings"><xs:complexType><xs:sequence>
      <xs:element name="SourceLocation" type="o:Url"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="Permissions"><xs:simpleType><xs:restriction base="xs:string">
      <xs:enumeration value="Restricted"/><xs:enumeration value="ReadDocument"/>
      <xs:enumeration value="ReadAllDocument"/><xs:enumeration value="WriteDocument"/>
      <xs:enumeration value="ReadWriteDocument"/></xs:restriction></xs:simpleType></xs:element>
  </xs:sequence></xs:complexType>
  <xs:complexType name="TaskPaneApp"><xs:complexContent><xs:extension base="o:OfficeApp"/></xs:complexContent>
  </xs:complexType>
  <xs:element name="OfficeApp" type="o:OfficeApp"/>
</xs:schema>
"""


def fetch_manifest(client, host: str = "127.0.0.1:8000", secure: bool = False) -> etree._Element:
    response = client.get("/addin/manifest.xml", HTTP_HOST=host, secure=secure)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    return etree.fromstring(response.content)


def text(root: etree._Element, path: str) -> str:
    return root.find(path, {"o": NS}).text.strip()


def attr(root: etree._Element, path: str) -> str:
    return root.find(path, {"o": NS}).get("DefaultValue")


def test_the_manifest_is_a_valid_word_task_pane_manifest(client):
    root = fetch_manifest(client)
    schema = etree.XMLSchema(etree.fromstring(TASKPANE_SCHEMA.encode()))
    assert schema.validate(root), schema.error_log
    assert root.tag == f"{{{NS}}}OfficeApp" and root.get(f"{{{XSI}}}type") == "TaskPaneApp"
    assert [h.get("Name") for h in root.iterfind("o:Hosts/o:Host", {"o": NS})] == ["Document"]
    assert root.find("o:Requirements/o:Sets/o:Set", {"o": NS}).get("Name") == "WordApi"
    assert text(root, "o:Permissions") == "ReadWriteDocument"
    uuid.UUID(text(root, "o:Id"))


def test_the_manifest_points_at_the_host_it_was_requested_on(client, settings):
    settings.ALLOWED_HOSTS = ["hub.example.com", "127.0.0.1"]
    root = fetch_manifest(client, host="hub.example.com", secure=True)
    assert attr(root, "o:DefaultSettings/o:SourceLocation") == "https://hub.example.com/addin/taskpane/"
    assert attr(root, "o:IconUrl").startswith("https://hub.example.com/static/addin/")
    assert text(root, "o:AppDomains/o:AppDomain") == "https://hub.example.com"
    local = fetch_manifest(client)
    assert attr(local, "o:DefaultSettings/o:SourceLocation") == "http://127.0.0.1:8000/addin/taskpane/"
    # One stable add-in id per host, different between hosts.
    assert text(root, "o:Id") == text(fetch_manifest(client, host="hub.example.com", secure=True), "o:Id")
    assert text(root, "o:Id") != text(local, "o:Id")


def test_the_manifests_icons_are_served(client):
    root = fetch_manifest(client)
    for path in ("o:IconUrl", "o:HighResolutionIconUrl"):
        url = attr(root, path).removeprefix("http://127.0.0.1:8000")
        response = client.get(url)
        assert response.status_code == 200
        assert (
            b"".join(response.streaming_content if response.streaming else [response.content])[:8]
            == b"\x89PNG\r\n\x1a\n"
        )


def test_a_foreign_host_gets_400_not_a_manifest(client):
    assert client.get("/addin/manifest.xml", HTTP_HOST="evil.example").status_code == 400


@pytest.mark.parametrize("url", ["/addin/manifest.xml", "/addin/taskpane/"])
def test_the_pages_only_answer_get(client, url):
    assert client.post(url).status_code == 405


def test_the_task_pane_loads_its_script_and_may_be_framed_by_word(client):
    response = client.get("/addin/taskpane/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/addin/taskpane.js" in html and "/static/addin/taskpane.css" in html
    assert 'id="document"' in html and 'id="token"' in html
    assert "X-Frame-Options" not in response
    assert client.get("/static/addin/taskpane.js").status_code == 200
