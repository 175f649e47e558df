"""The XMP packet of a sidecar, for :mod:`phoneiqa.audit.reports.xmp`: parsed, merged with what phoneiqa says
(:func:`merge`) and serialised with :mod:`xml.etree.ElementTree` (``x:xmpmeta``, ``rdf:RDF``, ``rdf:Description``,
``rdf:Bag``, ``rdf:li``), never by joining strings.  What phoneiqa owns in a packet: its namespace
(:data:`PHONEIQA_NS`), the ``lr:hierarchicalSubject`` items under ``phoneiqa|``, the ``dc:subject`` items its
namespace says it added, and the rating and label when they are the ones it proposed last time; the rest is
the user's and is kept.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from phoneiqa.version import __version__

PHONEIQA_NS = "https://github.com/phoneiqa/phoneiqa/xmp/1.0/"
"""phoneiqa's XMP namespace (prefix ``phoneiqa``)."""

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "phoneiqa": PHONEIQA_NS,
}
"""The namespaces phoneiqa writes, by prefix."""

PREFIX = "phoneiqa"
"""The root of phoneiqa's hierarchical keywords."""

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
"""The XML declaration of a sidecar (ElementTree's would name the locale's encoding for text output)."""

for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


RDF_DESCRIPTION, RDF_ABOUT, RDF_LI, RDF_BAG = (_q("rdf", n) for n in ("Description", "about", "li", "Bag"))
RATING, LABEL = _q("xmp", "Rating"), _q("xmp", "Label")
SUBJECT, HIERARCHY = _q("dc", "subject"), _q("lr", "hierarchicalSubject")
OURS = f"{{{PHONEIQA_NS}}}"


@dataclass
class Proposal:
    """What phoneiqa says about one photo: its rating and label (``None``: none), hierarchical keywords and
    its namespace's fields (name -> text, ``None``: left out)."""

    rating: int | None
    label: str | None
    keywords: list[str]
    fields: dict[str, Any]


class Unparseable(Exception):
    """A sidecar that is not an XMP packet phoneiqa can read."""


def new_packet() -> ET.Element:
    root = ET.Element(_q("x", "xmpmeta"), {_q("x", "xmptk"): f"phoneiqa {__version__}"})
    rdf = ET.SubElement(root, _q("rdf", "RDF"))
    ET.SubElement(rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})
    return root


def parse(data: bytes) -> ET.Element:
    """The ``x:xmpmeta`` element of a sidecar (an ``rdf:RDF`` root is wrapped in one), comments kept."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    try:
        parser.feed(data)
        root = parser.close()
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise Unparseable(f"not well-formed XML: {exc}") from None
    if root.tag == _q("rdf", "RDF"):
        wrapper = new_packet()
        wrapper[:] = [root]
        root = wrapper
    if root.tag != _q("x", "xmpmeta") or root.find(_q("rdf", "RDF")) is None:
        raise Unparseable(f"not an XMP packet (its root is <{root.tag}>, without rdf:RDF)")
    return root


def declared(data: bytes) -> list[tuple[str, str]]:
    """The namespaces a (well-formed) sidecar declares, (prefix, URI) in order, so that they keep their prefixes."""
    return [ns for _, ns in ET.iterparse(io.BytesIO(data), events=("start-ns",))]


def signature(root: ET.Element) -> list[tuple[Any, ...]]:
    """What a packet says, without its layout: each element's tag, attributes and text, in document order
    (whitespace-only text and tails, the indentation, left out)."""
    return [
        (
            e.tag,
            tuple(e.attrib.items()),
            e.text if e.text and e.text.strip() else "",
            e.tail if e.tail and e.tail.strip() else "",
        )
        for e in root.iter()
    ]


def merge(root: ET.Element, values: Proposal, overwrite: bool) -> None:
    """Put ``values`` into the packet ``root``: phoneiqa's previous namespace and keywords out, the new ones in,
    the rating and label where the user has not set their own."""
    rdf = root.find(_q("rdf", "RDF"))
    descriptions = rdf.findall(RDF_DESCRIPTION)
    before = {name: _get(descriptions, OURS + name) for name in ("rating", "label")}
    added = [li.text or "" for d in descriptions for bag in d.iter(OURS + "subject") for li in bag.iter(RDF_LI)]
    for d in descriptions:
        for key in [k for k in d.attrib if k.startswith(OURS)]:
            del d.attrib[key]
        d[:] = [child for child in d if not child.tag.startswith(OURS)]
    for d in descriptions:
        if len(d) == 0 and set(d.attrib) <= {RDF_ABOUT}:
            rdf.remove(d)
    descriptions = rdf.findall(RDF_DESCRIPTION)
    if not descriptions:
        descriptions = [ET.SubElement(rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})]
    main = descriptions[0]
    proposed = {"rating": None if values.rating is None else str(values.rating), "label": values.label}
    for name, tag in (("rating", RATING), ("label", LABEL)):
        now = _get(descriptions, tag)
        if now is None or now == before[name] or (overwrite and proposed[name] is not None):  # else the user's
            _set(descriptions, main, tag, proposed[name])
    flat = _items(descriptions, SUBJECT)
    for item in added:
        if item in flat:
            flat.remove(item)
    parts = dict.fromkeys(part for k in values.keywords for part in k.split("|"))
    mine = [part for part in parts if part not in flat]
    _set_bag(descriptions, main, SUBJECT, flat + mine)
    hierarchy = [k for k in _items(descriptions, HIERARCHY) if k != PREFIX and not k.startswith(PREFIX + "|")]
    _set_bag(descriptions, main, HIERARCHY, hierarchy + [k for k in values.keywords if k not in hierarchy])
    ours = ET.SubElement(rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})
    for name, value in {**values.fields, **proposed}.items():
        if value is not None:
            ET.SubElement(ours, OURS + name).text = value
    if mine:
        bag = ET.SubElement(ET.SubElement(ours, OURS + "subject"), RDF_BAG)
        for item in mine:
            ET.SubElement(bag, RDF_LI).text = item


def _get(descriptions: list[ET.Element], tag: str) -> str | None:
    """A simple property's value, as an attribute or an element of any description."""
    for d in descriptions:
        if tag in d.attrib:
            return d.attrib[tag]
        element = d.find(tag)
        if element is not None:
            return (element.text or "").strip()
    return None


def _set(descriptions: list[ET.Element], main: ET.Element, tag: str, value: str | None) -> None:
    """Set (or remove, ``None``) a simple property where it is, else add it to ``main``."""
    for d in descriptions:
        if tag in d.attrib:
            if value is None:
                del d.attrib[tag]
            else:
                d.attrib[tag] = value
            return
        element = d.find(tag)
        if element is not None:
            if value is None:
                d.remove(element)
            else:
                element.text = value
            return
    if value is not None:
        ET.SubElement(main, tag).text = value


def _items(descriptions: list[ET.Element], tag: str) -> list[str]:
    """The items of an array property (its ``rdf:li``), or of a single value written as an attribute."""
    for d in descriptions:
        if tag in d.attrib:
            return [d.attrib[tag]]
        element = d.find(tag)
        if element is not None:
            if len(element):  # its container's items
                return [li.text or "" for li in element[0].findall(RDF_LI)]
            return [element.text.strip()] if element.text and element.text.strip() else []  # a plain value
    return []


def _set_bag(descriptions: list[ET.Element], main: ET.Element, tag: str, items: list[str]) -> None:
    """Make an array property hold ``items`` (an ``rdf:Bag`` where it is, else added to ``main``), keeping its
    container and its items' attributes; removed when empty."""
    for d in descriptions:
        if tag in d.attrib:
            del d.attrib[tag]
            break
        element = d.find(tag)
        if element is not None:
            if not items:
                d.remove(element)
                return
            if not len(element):  # a plain value becomes a bag's item
                element.text = None
                ET.SubElement(element, RDF_BAG)
            container = element[0]
            kept = {li.text or "": li for li in container.findall(RDF_LI)}
            container[:] = [kept[item] if item in kept else _li(item) for item in items]
            return
    if items:
        ET.SubElement(ET.SubElement(main, tag), RDF_BAG)[:] = [_li(item) for item in items]


def _li(text: str) -> ET.Element:
    element = ET.Element(RDF_LI)
    element.text = text
    return element


def serialise(root: ET.Element, declared: list[tuple[str, str]]) -> bytes:
    """The packet as UTF-8 bytes, indented, with the prefixes the file declared (where they are free)."""
    foreign = [
        (p, u) for p, u in declared if p and p not in NS and u not in NS.values() and not re.fullmatch(r"ns\d+", p)
    ]
    for prefix, uri in foreign:
        ET.register_namespace(prefix, uri)
    if foreign:  # phoneiqa's prefixes win
        for prefix, uri in NS.items():
            ET.register_namespace(prefix, uri)
    ET.indent(root, space=" ")
    return DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"
